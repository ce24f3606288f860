using System.Text.Json.Nodes;
using k8s;
using Serilog;
using TorchFerry.Contract;
using TorchFerry.Operator.Hosting;
using TorchFerry.Storage;
using TorchFerry.TestSupport;
using TorchFerry.TestSupport.Kubernetes;

namespace TorchFerry.Operator.Tests.Hosting;

/// <summary>
/// The operator's API calls against the chart's RBAC: the operator runs as the chart configures it
/// (lease name and namespace from the rendered Deployment) through every path that talks to the API
/// server (leader election, a Flyte pod's outputs registered, a consumer's inputs converted, events,
/// deletion with its finalizer), and its calls must be exactly what the chart grants: every call
/// allowed, every grant used.
/// </summary>
[Collection(TorchCollection.Name)]
public sealed class OperatorRbacTests : IAsyncLifetime
{
    private const string Group = "torchferry.io";
    private const string Version = "v1alpha1";
    private const string FlyteNamespace = "flytesnacks-development";
    private const string Release = "torchferry";
    private const string ReleaseNamespace = "torchferry-system";
    private const string Token = "operator-service-account-token";
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);
    private readonly TorchFixtures torch;
    private readonly KubeApiEmulator api = new();
    private readonly TemporaryDirectory folder = new();
    private readonly CancellationTokenSource stop = new();
    private readonly ObjectStoreRouter stores = new(log: new LoggerConfiguration().CreateLogger(), durableLocalWrites: false);
    private readonly RenderedChart chart = Helm.Template(Release, ReleaseNamespace);
    private k8s.Kubernetes operatorClient = null!;
    private k8s.Kubernetes testClient = null!;
    private Task running = Task.CompletedTask;

    public OperatorRbacTests(TorchFixtures torch) => this.torch = torch;

    public Task InitializeAsync()
    {
        TorchFerryCrds.Install(api);
        operatorClient = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = api.Endpoint.ToString(), AccessToken = Token });
        testClient = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = api.Endpoint.ToString() });
        var args = chart.Arguments("operator");
        var host = new OperatorHost(operatorClient, stores, new OperatorOptions
        {
            AllowedPrefixes = new Dictionary<string, IReadOnlyList<string>> { [FlyteNamespace] = [$"file://{folder.Path}/"] },
            HttpAddress = "http://127.0.0.1:0",
            LeaseName = args["--lease-name"],
            LeaseNamespace = args["--lease-namespace"],
            LeaseDuration = TimeSpan.FromSeconds(2),
            RenewDeadline = TimeSpan.FromSeconds(1.5),
            RetryPeriod = TimeSpan.FromMilliseconds(200),
        }, TimeProvider.System, new LoggerConfiguration().CreateLogger());
        running = host.RunAsync(stop.Token);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await stop.CancelAsync();
        await running;
        operatorClient.Dispose();
        testClient.Dispose();
        stores.Dispose();
        await api.DisposeAsync();
        folder.Dispose();
        stop.Dispose();
    }

    [Fact]
    public async Task OperatorApiCalls_AreExactlyWhatTheChartGrantsItsServiceAccount()
    {
        // A GPU task's outputs (a checkpoint and a tensor), registered from its succeeded pod.
        var prefix = Path.Combine(folder.Path, "exec1", "n0", "data", "0");
        var outputs = new (string Literal, string Fixture, string Format, string Plural)[]
        {
            ("o0", "checkpoint_dict", "PyTorchCheckpoint", "checkpointartifacts"),
            ("o1", "tensor", "PyTorchTensor", "tensorartifacts"),
        };
        var literals = new JsonObject();
        var names = new List<(string Plural, string Name)>();
        foreach (var (literal, fixture, format, plural) in outputs)
        {
            Directory.CreateDirectory(Path.Combine(prefix, literal));
            var file = Path.Combine(prefix, literal, fixture + ".pt");
            File.Copy(torch.GpuFile(fixture), file);
            literals[literal] = FlyteIdl.BlobLiteral(format, "file://" + file);
            names.Add((plural, TorchFerry.Operator.Flyte.ArtifactNames.For("file://" + file)));
        }

        await File.WriteAllBytesAsync(Path.Combine(prefix, "outputs.pb"), FlyteIdl.Encode(new JsonObject { ["literals"] = literals.DeepClone() }));
        await FlyteTaskPods.CreateAsync(testClient, FlyteNamespace, "gpu-train", "n0", $"file://{folder.Path}/exec1/n0/inputs.pb", $"file://{prefix}", annotations: null, succeeded: true);
        foreach (var (plural, name) in names)
        {
            await Poll.UntilAsync(() => api.Get(Group, Version, plural, FlyteNamespace, name), TimeSpan.FromSeconds(30), Interval);
        }

        // A CPU consumer pending with the webhook's annotation: the operator adds the device and converts.
        var inputs = Path.Combine(folder.Path, "exec1", "n1", "inputs.pb");
        Directory.CreateDirectory(Path.GetDirectoryName(inputs)!);
        await File.WriteAllBytesAsync(inputs, FlyteIdl.Encode(new JsonObject { ["literals"] = literals.DeepClone() }));
        await FlyteTaskPods.CreateAsync(testClient, FlyteNamespace, "cpu-eval", "n1", $"file://{folder.Path}/exec1/n1/0/torchferry-inputs.pb", $"file://{folder.Path}/exec1/n1/0", new Dictionary<string, string> { [Annotations.TargetDevice] = "cpu", [Annotations.InputsSource] = "file://" + inputs }, succeeded: false);
        foreach (var (plural, name) in names)
        {
            await Poll.UntilAsync(() => api.Get(Group, Version, plural, FlyteNamespace, name) is { } o && o["status"]?["phase"]?.GetValue<string>() == "Ready" && o["status"]?["variants"] is JsonArray { Count: 1 } ? o : null, TimeSpan.FromSeconds(30), Interval);
        }

        // Deleted: the operator cleans the variants and removes its finalizers.
        foreach (var (plural, name) in names)
        {
            await testClient.CustomObjects.DeleteNamespacedCustomObjectAsync(Group, Version, FlyteNamespace, plural, name);
            await Poll.UntilAsync(() => api.Get(Group, Version, plural, FlyteNamespace, name) is null ? new JsonObject() : null, TimeSpan.FromSeconds(30), Interval);
        }

        // The leader renews its Lease (an update) at least once.
        await Poll.UntilAsync(() => api.Calls.Any(c => c.User == Token && c.Resource == "leases" && c.Verb == "update"), TimeSpan.FromSeconds(10), Interval);

        var policy = RbacPolicy.For(chart.Objects, chart.Deployment("operator")["spec"]!["template"]!["spec"]!["serviceAccountName"]!.GetValue<string>(), ReleaseNamespace);
        var calls = api.Calls.Where(c => c.User == Token).ToList();
        Assert.Empty(policy.Refused(calls));
        Assert.Empty(policy.Unused(calls));
    }
}
