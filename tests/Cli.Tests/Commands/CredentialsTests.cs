using System.Diagnostics;
using TorchFerry.TestSupport;

namespace TorchFerry.Cli.Tests.Commands;

/// <summary>The real <c>torchferry</c> process with no AWS credentials anywhere in its environment.</summary>
public sealed class CredentialsTests
{
    [Fact]
    public async Task S3_NoCredentials_OneLineNamingEveryProviderTried_NoSecret()
    {
        using var home = new TemporaryDirectory();
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "torchferry.dll"), "inspect", "s3://bucket/model.pt"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment.Clear();
        start.Environment["PATH"] = Environment.GetEnvironmentVariable("PATH");
        start.Environment["HOME"] = home.Path;
        start.Environment["AWS_EC2_METADATA_DISABLED"] = "true"; // no instance metadata service to wait for here
        start.Environment["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9";
        start.Environment["FLYTE_AWS_SECRET_ACCESS_KEY"] = "not-a-secret-without-its-key-id";

        using var process = Process.Start(start)!;
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        Assert.Equal(1, process.ExitCode);
        var line = Assert.Single(error.TrimEnd('\n').Split('\n'));
        Assert.StartsWith("torchferry: s3://bucket/model.pt: no AWS credentials for stat; tried 4 providers (", line, StringComparison.Ordinal);
        Assert.Contains("AWS_ACCESS_KEY_ID", line, StringComparison.Ordinal);
        Assert.Contains("profile", line, StringComparison.Ordinal);
        Assert.Contains("instance metadata", line, StringComparison.Ordinal);
        Assert.DoesNotContain("not-a-secret", line, StringComparison.Ordinal);
        Assert.False(line.TrimEnd().EndsWith(':'), line);
    }
}
