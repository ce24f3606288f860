using TorchFerry.TestSupport;
using TorchFerry.TestSupport.Cluster;
using TorchFerry.TestSupport.Kubernetes;

namespace TorchFerry.Sandbox.Tests;

/// <summary>The published torchferry-operator, started from the chart's Deployment, told to stop as the kubelet tells it.</summary>
[Collection(SandboxCollection.Name)]
public sealed class OperatorShutdownTests
{
    [Fact]
    public async Task Sigterm_TheLeaderExitsZeroWithinItsGrace_AndReleasesItsLease()
    {
        using var folder = new TemporaryDirectory();
        await using var api = new KubeApiEmulator();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await using var installation = await TorchFerryInstallation.InstallAsync(api, folder.Path, new Timeline(), ["--set", "image.repository=torchferry.local/torchferry"], cancel.Token);
        var deployment = installation.Chart.Deployment("operator");
        var args = deployment["spec"]!["template"]!["spec"]!["containers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
        var leaseName = args.Single(a => a.StartsWith("--lease-name=", StringComparison.Ordinal))["--lease-name=".Length..];
        var grace = TimeSpan.FromSeconds(deployment["spec"]!["template"]!["spec"]!["terminationGracePeriodSeconds"]!.GetValue<int>());

        await installation.StartOperatorAsync(new Dictionary<string, string>(), cancel.Token);
        await Poll.UntilAsync(() => Holder() == $"{TorchFerryInstallation.Release}-operator-0", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(50)); // a standby is ready too

        var exited = System.Diagnostics.Stopwatch.StartNew();
        var exitCode = await installation.TerminateOperatorAsync(grace);

        Assert.Equal(0, exitCode);
        Assert.True(exited.Elapsed < grace, $"took {exited.Elapsed} of its {grace} grace");
        Assert.Null(Holder());
        Assert.Contains("released", installation.OperatorLog, StringComparison.Ordinal);

        string? Holder() => api.Get("coordination.k8s.io", "v1", "leases", TorchFerryInstallation.ReleaseNamespace, leaseName)?["spec"]?["holderIdentity"]?.GetValue<string>();
    }
}
