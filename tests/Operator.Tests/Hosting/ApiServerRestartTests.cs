using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Serilog;
using TorchFerry.Crds;
using TorchFerry.Operator.Hosting;
using TorchFerry.Storage;
using TorchFerry.TestSupport;
using TorchFerry.TestSupport.Kubernetes;

namespace TorchFerry.Operator.Tests.Hosting;

/// <summary>
/// The operator reaches the API server through <see cref="TransportFaults"/>, which restarts it the
/// way an upgrade does (listener gone, every connection dropped, state kept) while a 2 GiB checkpoint
/// is converted with durable writes, as in production.
/// </summary>
[Collection(TorchCollection.Name)]
public sealed class ApiServerRestartTests(TorchFixtures torch) : IAsyncLifetime
{
    private const string Group = "torchferry.io";
    private const string Version = "v1alpha1";
    private const string Namespace = "flytesnacks-development";
    private const string LeaseNamespace = "torchferry-system";
    private readonly KubeApiEmulator api = new();
    private readonly TemporaryDirectory folder = new();
    private readonly LogLines log = new();
    private TransportFaults network = null!;
    private k8s.Kubernetes client = null!;

    public Task InitializeAsync()
    {
        TorchFerryCrds.Install(api);
        network = new TransportFaults(api.Endpoint);
        client = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = network.Endpoint.ToString() });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        client.Dispose();
        await network.DisposeAsync();
        await api.DisposeAsync();
        folder.Dispose();
    }

    [Fact]
    public async Task ApiServerRestartsThreeTimesDuringATwoGiBConversion_TheLeaderKeepsItsTerm_ConvertsOnce_WithoutRelisting()
    {
        var source = folder.File("huge.pt");
        torch.Torch.Make("huge", source);
        using var stores = new ObjectStoreRouter(log: new LoggerConfiguration().CreateLogger());
        using var stop = new CancellationTokenSource();
        var host = new OperatorHost(client, stores, new OperatorOptions
        {
            AllowedPrefixes = new Dictionary<string, IReadOnlyList<string>> { [Namespace] = [$"file://{folder.Path}/"] },
            HttpAddress = "http://127.0.0.1:0",
            Identity = "operator-a",
            LeaseNamespace = LeaseNamespace,
            LeaseDuration = TimeSpan.FromSeconds(6),
            RenewDeadline = TimeSpan.FromSeconds(4),
            RetryPeriod = TimeSpan.FromMilliseconds(250),
        }, TimeProvider.System, new LoggerConfiguration().WriteTo.Sink(log).CreateLogger());
        var running = host.RunAsync(stop.Token);
        await Poll.UntilAsync(() => Lease()?["spec"]?["holderIdentity"]?.GetValue<string>() == "operator-a", TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(50));
        await Poll.UntilAsync(() => api.Requests.Count(IsList) >= 3, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(50));

        api.CreateObject(Group, Version, "checkpointartifacts", Namespace, JsonNode.Parse(KubernetesJson.Serialize(new CheckpointArtifact
        {
            Metadata = new V1ObjectMeta { Name = "huge", NamespaceProperty = Namespace },
            Spec = new ArtifactSpec { Source = new ArtifactSource { Uri = "file://" + source, Format = FlyteBlobFormat.PyTorchCheckpoint }, TargetDevices = ["cpu"] },
        }))!.AsObject());

        // The variant is being written: restart the API server three times, each shorter than the renew deadline.
        await Poll.UntilAsync(() => Directory.GetFiles(folder.Path, ".huge.torchferry-cpu.pt.*.tmp").Length > 0, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(10));
        for (var i = 0; i < 3; i++)
        {
            // Spaced as an upgrade spaces them: a renewal goes through the restarted server before the next restart.
            var renewed = RenewTime();
            await network.RestartAsync(TimeSpan.FromMilliseconds(300));
            if (i == 0)
            {
                // How long the rest takes depends on the disk (an idle machine has finished 2 GiB before the
                // third restart); the first one must fall inside the conversion for the scenario to happen.
                Assert.True(Phase() != "Ready", "the conversion finished before the first restart ended: the scenario did not happen");
            }

            await Poll.UntilAsync(() => RenewTime() != renewed, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(20));
        }

        await Poll.UntilAsync(() => Phase() == "Ready", TimeSpan.FromSeconds(120), TimeSpan.FromMilliseconds(100), () => string.Join("\n", log.Lines.TakeLast(15)));
        await stop.CancelAsync();
        await running;

        Assert.Equal(3, network.Restarts);
        Assert.Single(log.Lines, l => l.Contains("operator-a leads", StringComparison.Ordinal));
        Assert.True(log.Lines.Count(l => l.Contains(": converted ", StringComparison.Ordinal)) == 1, string.Join("\n", log.Lines));
        Assert.DoesNotContain(log.Lines, l => l.Contains("stopping work", StringComparison.Ordinal));
        Assert.Equal(3, api.Requests.Count(IsList)); // one LIST per informer: watches resumed, nothing relisted
        var variant = StorageUri.Parse(api.Get(Group, Version, "checkpointartifacts", Namespace, "huge")!["status"]!["variants"]![0]!["uri"]!.GetValue<string>()).Key;
        Assert.Null(torch.Torch.LoadError(variant));
        Assert.Empty(Directory.GetFiles(folder.Path, "*.tmp", new EnumerationOptions { AttributesToSkip = 0 }));
    }

    private static bool IsList(string request) =>
        request.StartsWith("GET ", StringComparison.Ordinal) && !request.Contains("watch=true", StringComparison.Ordinal)
        && (request.Contains("/checkpointartifacts?", StringComparison.Ordinal) || request.Contains("/tensorartifacts?", StringComparison.Ordinal) || request.Contains("/pods?", StringComparison.Ordinal));

    private string? Phase() => api.Get(Group, Version, "checkpointartifacts", Namespace, "huge")?["status"]?["phase"]?.GetValue<string>();

    private string? RenewTime() => Lease()?["spec"]?["renewTime"]?.ToJsonString();

    private JsonObject? Lease() => api.Get("coordination.k8s.io", "v1", "leases", LeaseNamespace, "torchferry-operator");
}
