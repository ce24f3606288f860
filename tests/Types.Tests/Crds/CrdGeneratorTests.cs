using TorchFerry.Crds;
using TorchFerry.TestSupport;
using TorchFerry.Yaml;

namespace TorchFerry.Types.Tests.Crds;

/// <summary>
/// The CRDs are generated from the C# types; config/crd and the chart hold the result, and the CLI's
/// <c>crds</c> command prints those files. To regenerate them after changing a type:
/// <c>TORCHFERRY_UPDATE_CRDS=1 dotnet test tests/Types.Tests --filter CommittedCrd</c>.
/// </summary>
public sealed class CrdGeneratorTests : IDisposable
{
    private static readonly string CrdFolder = Path.Combine(RepositoryPaths.Root, "config", "crd");
    private const string Regenerate = "run `TORCHFERRY_UPDATE_CRDS=1 dotnet test tests/Types.Tests --filter CommittedCrd`";
    private readonly TemporaryDirectory folder = new();

    public static TheoryData<string> Kinds => new(CrdCatalog.All.Select(c => c.Kind));

    public static TheoryData<string> Samples => new(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "config", "samples"), "*.yaml").Select(Path.GetFileName)!);

    [Theory]
    [MemberData(nameof(Kinds))]
    public void CommittedCrd_IsWhatTheGeneratorWrites(string kind)
    {
        var crd = CrdCatalog.All.Single(c => c.Kind == kind);
        var path = Path.Combine(CrdFolder, crd.FileName);

        var expected = YamlWriter.Write(CrdGenerator.Generate(crd));
        if (Environment.GetEnvironmentVariable("TORCHFERRY_UPDATE_CRDS") == "1")
        {
            // The chart installs the same files (ChartLintTests checks the copies).
            File.WriteAllText(path, expected);
            File.WriteAllText(Path.Combine(RepositoryPaths.Root, "charts", "torchferry", "crds", crd.FileName), expected);
            return;
        }

        Assert.True(File.Exists(path), $"{path} is missing: {Regenerate}");
        Assert.True(expected == File.ReadAllText(path), $"{path} differs from the C# types: {Regenerate}, and commit the result");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void CrdYaml_ReadsBackAsTheGeneratedTree(string kind)
    {
        var crd = CrdCatalog.All.Single(c => c.Kind == kind);
        var json = folder.File(kind + ".json");
        File.WriteAllText(json, CrdGenerator.Generate(crd).ToJsonString());

        Assert.True(CrdCheck.RoundTrips(Path.Combine(CrdFolder, crd.FileName), json));
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void Sample_ValidatesAgainstItsCrdSchema(string sample)
    {
        Assert.Empty(CrdCheck.Validate(CrdFolder, Path.Combine(RepositoryPaths.Root, "config", "samples", sample)));
    }

    [Theory]
    [InlineData("format: PyTorchCheckpoint", "format: PyTorchPickle", "is not one of")]
    [InlineData("- cpu", "- gpu:0", "does not match")]
    [InlineData("uri: s3://my-flyte-bucket/raw/ab/cd/model.pt", "uri: http://example.com/model.pt", "does not match")]
    [InlineData("variantDeletionPolicy: Retain", "variantDeletionPolicy: Keep", "is not one of")]
    public void BadArtifact_IsRejectedBySchema(string good, string bad, string expected)
    {
        var text = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "config", "samples", "tensorartifact.yaml"))
            .Replace("format: PyTorchModule", "format: PyTorchCheckpoint", StringComparison.Ordinal);
        Assert.Contains(good, text, StringComparison.Ordinal);
        var sample = folder.File("bad.yaml");
        File.WriteAllText(sample, text.Replace(good, bad, StringComparison.Ordinal));

        var errors = CrdCheck.Validate(CrdFolder, sample);

        Assert.Contains(errors, e => e.Contains(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("count: 1", "count: 0", "is less than the minimum")]
    [InlineData("migProfile: 1g.10gb", "migProfile: huge", "does not match")]
    [InlineData("type: gpu", "type: tpu", "is not one of")]
    [InlineData("sharedMemorySize: 8Gi", "sharedMemorySize: lots", "does not match")]
    public void BadDeviceProfile_IsRejectedBySchema(string good, string bad, string expected)
    {
        var text = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "config", "samples", "deviceprofile-gpu.yaml"));
        Assert.Contains(good, text, StringComparison.Ordinal);
        var sample = folder.File("bad.yaml");
        File.WriteAllText(sample, text.Replace(good, bad, StringComparison.Ordinal));

        var errors = CrdCheck.Validate(CrdFolder, sample);

        Assert.Contains(errors, e => e.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Generate_ArtifactCrd_HasStatusSubresourceShortNamesCategoryAndConditions()
    {
        var crd = CrdGenerator.Generate(CrdCatalog.All.Single(c => c.Kind == nameof(CheckpointArtifact)));

        var version = crd["spec"]!["versions"]![0]!;
        Assert.NotNull(version["subresources"]!["status"]);
        Assert.Equal("tfc", crd["spec"]!["names"]!["shortNames"]![0]!.GetValue<string>());
        Assert.Equal("torchferry", crd["spec"]!["names"]!["categories"]![0]!.GetValue<string>());
        var conditions = version["schema"]!["openAPIV3Schema"]!["properties"]!["status"]!["properties"]!["conditions"]!;
        Assert.Equal("map", conditions["x-kubernetes-list-type"]!.GetValue<string>());
        Assert.Contains("observedGeneration", conditions["items"]!["properties"]!.AsObject().Select(p => p.Key));
        Assert.Contains(version["additionalPrinterColumns"]!.AsArray(), c => c!["name"]!.GetValue<string>() == "Phase");
    }

    public void Dispose() => folder.Dispose();
}
