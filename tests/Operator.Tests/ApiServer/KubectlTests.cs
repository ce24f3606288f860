using System.Diagnostics;
using TorchFerry.TestSupport;
using TorchFerry.TestSupport.Kubernetes;

namespace TorchFerry.Operator.Tests.ApiServer;

/// <summary>kubectl itself, pointed at the emulator.</summary>
public sealed class KubectlTests : IAsyncLifetime
{
    private readonly KubeApiEmulator api = new();
    private readonly TemporaryDirectory folder = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await api.DisposeAsync();
        folder.Dispose();
    }

    /// <summary>
    /// kubectl parses the files, maps their kind through the emulator's discovery and dry-run
    /// creates them. Its OpenAPI download is switched off: kubectl does not accept the emulator's
    /// minimal OpenAPI v3 document yet (and wants protobuf for v2); the CRDs' schemas are checked by
    /// the generator and JSON Schema tests instead.
    /// </summary>
    [Fact]
    public async Task KubectlApplyDryRunClient_WithoutOpenApiDownload_AcceptsTheCommittedCrds()
    {
        var kubeconfig = folder.File("kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n");

        var (exitCode, output) = await KubectlAsync(kubeconfig, "apply", "--dry-run=client", "--validate=false", "-f", Path.Combine(RepositoryPaths.Root, "config", "crd"));

        Assert.True(exitCode == 0, output + "\n" + string.Join("\n", api.Requests.TakeLast(15)));
        foreach (var crd in new[] { "checkpointartifacts", "deviceprofiles", "tensorartifacts" })
        {
            Assert.Contains($"customresourcedefinition.apiextensions.k8s.io/{crd}.torchferry.io created (dry run)", output, StringComparison.Ordinal);
        }
    }

    private async Task<(int ExitCode, string Output)> KubectlAsync(string kubeconfig, params string[] args)
    {
        var kubectl = File.Exists("/usr/bin/kubectl") ? "/usr/bin/kubectl" : Path.Combine(RepositoryPaths.Tools, "bin", "kubectl");
        Assert.True(File.Exists(kubectl), $"kubectl is missing ({kubectl}): run scripts/install-test-deps.sh");
        using var process = Process.Start(new ProcessStartInfo(kubectl, [.. args, "--server", api.Endpoint.ToString(), "--kubeconfig", kubeconfig])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, output + error);
    }
}
