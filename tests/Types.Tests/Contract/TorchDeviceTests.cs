using System.Text.Json.Nodes;
using TorchFerry.Contract;
using TorchFerry.TestSupport;

namespace TorchFerry.Types.Tests.Contract;

/// <summary>One device rule: TorchDevice, the CRDs in config/crd and the chart's values.schema.json agree on every name.</summary>
public sealed class TorchDeviceTests
{
    [Theory]
    [InlineData("cpu", "cpu")]
    [InlineData("cuda", "cuda:0")]
    [InlineData("cuda:0", "cuda:0")]
    [InlineData("cuda:42", "cuda:42")]
    public void Parse_ValidName_IsNormalisedAsTorchRecordsIt(string value, string expected)
    {
        Assert.Equal(expected, TorchDevice.Parse(value, "--device").Name);
    }

    [Theory]
    [MemberData(nameof(DeviceNames.Refused), MemberType = typeof(DeviceNames))]
    [MemberData(nameof(DeviceNames.AlsoRefused), MemberType = typeof(DeviceNames))]
    [InlineData("cpu\n")]
    [InlineData("cuda:0\u001b[2J")]
    public void Parse_NotADevice_IsRefusedNamingSourceAndValue(string value)
    {
        var error = Assert.Throws<ArgumentException>(() => TorchDevice.Parse(value, "--device"));

        Assert.StartsWith("--device '", error.Message, StringComparison.Ordinal);
        Assert.Contains(TorchDevice.Expected, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
        Assert.DoesNotContain('\u001b', error.Message);
    }

    [Fact]
    public void Pattern_IsTheOneInTheCrdsAndTheChartSchema()
    {
        var schema = JsonNode.Parse(File.ReadAllText(Path.Combine(Helm.Chart, "values.schema.json")))!;
        var crdPatterns = Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "config", "crd"), "*.yaml")
            .SelectMany(file => TestSupport.Yaml.ToJsonDocuments(File.ReadAllText(file)))
            .SelectMany(Patterns)
            .Where(p => p.Contains("cuda", StringComparison.Ordinal))
            .Distinct()
            .ToList();

        Assert.Equal(TorchDevice.Pattern, schema["properties"]!["webhook"]!["properties"]!["inputsDevice"]!["additionalProperties"]!["pattern"]!.GetValue<string>());
        Assert.Equal([TorchDevice.Pattern], crdPatterns);
    }

    [Theory]
    [MemberData(nameof(DeviceNames.Accepted), MemberType = typeof(DeviceNames))]
    public void AcceptedName_IsAcceptedByTorchDeviceTheCrdsAndTheChart(string value)
    {
        Assert.True(TorchDevice.IsValid(value));
        Assert.Empty(CrdErrors(value));
        Assert.Equal(0, ChartExitCode(value));
    }

    [Theory]
    [MemberData(nameof(DeviceNames.Refused), MemberType = typeof(DeviceNames))]
    [MemberData(nameof(DeviceNames.AlsoRefused), MemberType = typeof(DeviceNames))]
    public void RefusedName_IsRefusedByTorchDeviceTheCrdsAndTheChart(string value)
    {
        Assert.False(TorchDevice.IsValid(value));
        Assert.Equal(2, CrdErrors(value).Count); // the profile's inputsDevice and the artifact's targetDevices
        Assert.NotEqual(0, ChartExitCode(value));
    }

    // One DeviceProfile and one CheckpointArtifact naming the device, checked against config/crd by Python's jsonschema.
    private static IReadOnlyList<string> CrdErrors(string device)
    {
        using var folder = new TemporaryDirectory();
        var file = Path.Combine(folder.Path, "sample.yaml");
        var profile = new JsonObject
        {
            ["apiVersion"] = "torchferry.io/v1alpha1",
            ["kind"] = "DeviceProfile",
            ["metadata"] = new JsonObject { ["name"] = "p" },
            ["spec"] = new JsonObject { ["selector"] = new JsonObject(), ["device"] = new JsonObject { ["type"] = "cpu" }, ["inputsDevice"] = device },
        };
        var artifact = new JsonObject
        {
            ["apiVersion"] = "torchferry.io/v1alpha1",
            ["kind"] = "CheckpointArtifact",
            ["metadata"] = new JsonObject { ["name"] = "a" },
            ["spec"] = new JsonObject { ["source"] = new JsonObject { ["uri"] = "s3://bucket/a.pt", ["format"] = "PyTorchCheckpoint" }, ["targetDevices"] = new JsonArray(device) },
        };
        File.WriteAllText(file, profile.ToJsonString() + "\n---\n" + artifact.ToJsonString() + "\n");
        return CrdCheck.Validate(Path.Combine(RepositoryPaths.Root, "config", "crd"), file);
    }

    // Real Helm validating the chart's values.schema.json.
    private static int ChartExitCode(string device) =>
        Helm.Run("template", "torchferry", Helm.Chart, "--set-json", $"webhook.inputsDevice={{\"flytesnacks-development\":{JsonValue.Create(device).ToJsonString()}}}").ExitCode;

    private static IEnumerable<string> Patterns(JsonNode? node) => node switch
    {
        JsonObject o => o.SelectMany(kv => kv.Key == "pattern" && kv.Value is JsonValue v ? [v.GetValue<string>()] : Patterns(kv.Value)),
        JsonArray a => a.SelectMany(Patterns),
        _ => [],
    };
}
