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
    /// kubectl parses the files, downloads the OpenAPI document and runs its client-side validation,
    /// maps the kind through discovery and dry-run creates them. The emulator's OpenAPI schemas are
    /// permissive (the CRDs' own schemas are checked by the generator and JSON Schema tests); an
    /// unknown kind is still refused (next test).
    /// </summary>
    [Fact]
    public async Task KubectlApplyDryRunClient_AcceptsTheCommittedCrds()
    {
        var kubeconfig = folder.File("kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n");

        var (exitCode, output) = await KubectlAsync(kubeconfig, "apply", "--dry-run=client", "-f", Path.Combine(RepositoryPaths.Root, "config", "crd"));

        Assert.True(exitCode == 0, output + "\n" + string.Join("\n", api.Requests.TakeLast(15)));
        foreach (var crd in new[] { "checkpointartifacts", "deviceprofiles", "tensorartifacts" })
        {
            Assert.Contains($"customresourcedefinition.apiextensions.k8s.io/{crd}.torchferry.io created (dry run)", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task KubectlApplyDryRunClient_UnknownKind_IsRefused()
    {
        var kubeconfig = folder.File("kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n");
        var manifest = folder.File("bogus.yaml");
        await File.WriteAllTextAsync(manifest, "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinitionTypo\nmetadata:\n  name: x\n");

        var (exitCode, output) = await KubectlAsync(kubeconfig, "apply", "--dry-run=client", "-f", manifest);

        Assert.NotEqual(0, exitCode);
        Assert.Contains("CustomResourceDefinitionTypo", output, StringComparison.Ordinal);
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
