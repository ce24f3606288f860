using System.Text.RegularExpressions;
using Serilog;
using TorchFerry.Cli.Commands;
using TorchFerry.Crds;
using TorchFerry.Storage;
using TorchFerry.Storage.S3;
using TorchFerry.TestSupport;

namespace TorchFerry.Cli.Tests;

/// <summary>
/// The natively compiled <c>torchferry</c> (what the image ships and the init container runs) does what
/// the JIT-compiled command that the other tests run in-process does: the same bytes, the same output,
/// the same refusals. Native compilation drops what it cannot see used (reflection, serializer metadata),
/// so each command family is run through the binary once.
/// </summary>
[Collection(S3Collection.Name)]
public sealed class NativeCliTests(S3Fixture s3, TorchFixtures fixtures)
{
    [Fact]
    public async Task Crds_AreTheCommittedFiles_InCatalogOrder()
    {
        var (exitCode, output, error) = await NativeAsync(["crds"]);

        Assert.True(exitCode == 0, error);
        var committed = string.Concat(CrdCatalog.All.Select(crd => "---\n" + File.ReadAllText(Path.Combine(RepositoryPaths.Root, "config", "crd", crd.FileName))));
        Assert.Equal(committed, output);
    }

    [Theory]
    [InlineData("checkpoint_dict")]
    [InlineData("module")]
    [InlineData("checkpoint_dataclass")]
    [InlineData("dtypes")]
    public async Task Inspect_TextAndJson_AreWhatTheInProcessCommandPrints(string fixtureCase)
    {
        var file = fixtures.GpuFile(fixtureCase);

        foreach (var args in new[] { new[] { "inspect", file }, ["inspect", "--json", file] })
        {
            var native = await NativeAsync(args);
            var managed = await CliRunner.RunAsync(args);
            Assert.Equal((managed.ExitCode, managed.Output, managed.Error), (native.ExitCode, native.Output, native.Error));
            Assert.Equal(0, native.ExitCode);
        }
    }

    [Theory]
    [InlineData("checkpoint_dict", false)]
    [InlineData("checkpoint_held", true)]
    public async Task Convert_LocalFile_WritesTheInProcessCommandsBytes_WhichLoadOnTheCpu(string fixtureCase, bool weightsOnly)
    {
        using var folder = new TemporaryDirectory();
        string[] options = weightsOnly ? ["--device", "cpu", "--weights-only"] : ["--device", "cpu"];

        var native = await NativeAsync(["convert", fixtures.GpuFile(fixtureCase), folder.File("native.pt"), .. options]);
        var managed = await CliRunner.RunAsync(["convert", fixtures.GpuFile(fixtureCase), folder.File("managed.pt"), .. options]);

        Assert.True(native.ExitCode == 0, native.Error);
        Assert.Equal(0, managed.ExitCode);
        Assert.Equal(Summary(managed.Output.Replace("managed.pt", "native.pt", StringComparison.Ordinal)), Summary(native.Output));
        Assert.Equal(await File.ReadAllBytesAsync(folder.File("managed.pt")), await File.ReadAllBytesAsync(folder.File("native.pt")));
        Assert.Empty(fixtures.Torch.Compare(fixtureCase, folder.File("native.pt"), weightsOnly: weightsOnly, plain: weightsOnly).Problems);
    }

    [Fact]
    public async Task Convert_OnS3_WithTheStandardVariables_WritesTheInProcessCommandsBytes()
    {
        using var folder = new TemporaryDirectory();
        var key = S3Fixture.UniqueKey("gpu.pt");
        await s3.PutFileAsync(key, fixtures.GpuFile("large")); // records big enough for server-side copy
        var (nativeKey, managedKey) = (key.Replace("gpu.pt", "native.pt", StringComparison.Ordinal), key.Replace("gpu.pt", "managed.pt", StringComparison.Ordinal));

        var native = await NativeAsync(["convert", $"s3://{S3Server.Bucket}/{key}", $"s3://{S3Server.Bucket}/{nativeKey}", "--device", "cpu"], new Dictionary<string, string>
        {
            ["AWS_ENDPOINT_URL_S3"] = s3.Server.Endpoint.ToString(),
            ["AWS_ACCESS_KEY_ID"] = S3Server.AccessKey,
            ["AWS_SECRET_ACCESS_KEY"] = S3Server.SecretKey,
            ["TORCHFERRY_S3_CHUNK_ENCODING"] = "false", // s3rver
        });
        var managed = await ManagedS3Async("convert", $"s3://{S3Server.Bucket}/{key}", $"s3://{S3Server.Bucket}/{managedKey}", "--device", "cpu");

        Assert.True(native.ExitCode == 0, native.Error);
        Assert.Equal(0, managed.ExitCode);
        Assert.Equal(Summary(managed.Output.Replace(managedKey, nativeKey, StringComparison.Ordinal)), Summary(native.Output));
        // s3rver has no UploadPartCopy: the probe's warning comes through the logger, one line.
        Assert.True(Regex.IsMatch(native.Error, @"^torchferry: warning: Server-side copy \(UploadPartCopy\) is not available on http://[^ ]+ \(NotImplemented\); copying through TorchFerry instead\n$"), native.Error);
        await s3.GetFileAsync(nativeKey, folder.File("native.pt"));
        await s3.GetFileAsync(managedKey, folder.File("managed.pt"));
        Assert.Equal(await File.ReadAllBytesAsync(folder.File("managed.pt")), await File.ReadAllBytesAsync(folder.File("native.pt")));
        Assert.Empty(fixtures.Torch.Compare("large", folder.File("native.pt")).Problems);
    }

    [Theory]
    [InlineData("torch+os.system")]
    [InlineData("deep-tuple-key")]
    public async Task HostileArchive_IsAnsweredAsTheInProcessCommandAnswers(string name)
    {
        using var folder = new TemporaryDirectory();
        var input = folder.File("hostile.pt");
        await File.WriteAllBytesAsync(input, HostileArchives.All(folder.File("marker")).Single(c => c.Name == name).Archive);

        foreach (var args in new[] { new[] { "inspect", input }, ["convert", input, folder.File("out.pt"), "--device", "cpu", "--force"] })
        {
            var native = await NativeAsync(args);
            var managed = await CliRunner.RunAsync(args);
            Assert.Equal((managed.ExitCode, managed.Output, managed.Error), (native.ExitCode, native.Output, native.Error));
        }

        Assert.False(File.Exists(folder.File("marker")));
    }

    [Fact]
    public async Task BadArguments_AreRefusedAsTheInProcessCommandRefusesThem()
    {
        foreach (var args in new[] { new[] { "convert", "a.pt" }, ["convert", "a.pt", "b.pt", "--device", "tpu"], ["inspect", "s3://"], ["nope"] })
        {
            var native = await NativeAsync(args);
            var managed = await CliRunner.RunAsync(args);
            Assert.Equal((managed.ExitCode, managed.Error), (native.ExitCode, native.Error));
            Assert.NotEqual(0, native.ExitCode);
        }
    }

    // The summary line without what was read through the process: header reads run side by side, so
    // how much of a window they read varies by a few hundred bytes from run to run.
    private static string Summary(string output) => Regex.Replace(output, @"[0-9.]+ [KMG]?i?B through this process", "… through this process");

    // The shipped binary as the other process tests run it (heap capped, killed after a minute).
    private static async Task<(int ExitCode, string Output, string Error)> NativeAsync(string[] args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var run = await TorchferryProcess.RunAsync(args, environment);
        return (run.ExitCode, run.Output, run.Error);
    }

    private async Task<(int ExitCode, string Output, string Error)> ManagedS3Async(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var options = new S3StoreOptions { Endpoint = s3.Server.Endpoint, Credentials = (S3Server.AccessKey, S3Server.SecretKey) };
        var context = new CommandContext(output, error, durable => new ObjectStoreRouter(options, new LoggerConfiguration().CreateLogger(), durable));
        var exitCode = await TorchFerryCommand.RunAsync(args, context);
        return (exitCode, output.ToString(), error.ToString());
    }
}
