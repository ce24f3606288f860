using Serilog;
using TorchFerry.Cli.Commands;
using TorchFerry.Storage;
using TorchFerry.Storage.S3;
using TorchFerry.TestSupport;

namespace TorchFerry.Cli.Tests.Commands;

[Collection(S3Collection.Name)]
public sealed class ConvertCommandS3Tests(S3Fixture s3, TorchFixtures fixtures)
{
    [Fact]
    public async Task Convert_S3UriOnEitherSide_WritesALoadableFileAndReportsBytesMoved()
    {
        using var folder = new TemporaryDirectory();
        var key = S3Fixture.UniqueKey("gpu.pt");
        await s3.PutFileAsync(key, fixtures.GpuFile("checkpoint_dict"));
        var cpuKey = key.Replace("gpu.pt", "cpu.pt", StringComparison.Ordinal);
        var local = folder.File("cpu.pt");

        var (toS3, output, error) = await RunAsync("convert", $"s3://{S3Server.Bucket}/{key}", $"s3://{S3Server.Bucket}/{cpuKey}", "--device", "cpu");
        var (toFile, _, _) = await RunAsync("convert", $"s3://{S3Server.Bucket}/{cpuKey}", local, "--device", "cpu");

        Assert.Equal((0, 0), (toS3, toFile));
        Assert.Empty(error);
        Assert.Matches(@"through this process, 0 B copied by the store", output);
        Assert.Empty(fixtures.Torch.Compare("checkpoint_dict", local).Problems);
    }

    [Fact]
    public async Task Inspect_MissingS3Object_IsOneClearLine()
    {
        var (exitCode, _, error) = await RunAsync("inspect", $"s3://{S3Server.Bucket}/nope/model.pt");

        Assert.Equal(1, exitCode);
        Assert.Equal($"torchferry: s3://{S3Server.Bucket}/nope/model.pt: no such object\n", error);
    }

    private async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var options = new S3StoreOptions { Endpoint = s3.Server.Endpoint, Credentials = (S3Server.AccessKey, S3Server.SecretKey), PartSize = S3StoreOptions.MinimumPartSize };
        var context = new CommandContext(output, error, durable => new ObjectStoreRouter(options, new LoggerConfiguration().CreateLogger(), durable));
        var exitCode = await TorchFerryCommand.RunAsync(args, context);
        return (exitCode, output.ToString(), error.ToString());
    }
}
