using k8s;
using k8s.Autorest;
using k8s.Models;
using Serilog;
using TorchFerry.Crds;
using TorchFerry.Runtime.Hosting;
using TorchFerry.TestSupport;
using TorchFerry.TestSupport.Kubernetes;

namespace TorchFerry.Runtime.Tests;

/// <summary>
/// What the controller does with a reconcile's failure, with real answers from the API server
/// emulator: terminal failures (our terminal error; 400, 413, 415 and 422 answers) are forgotten,
/// counted as <c>result="terminal"</c> and, for the API server's refusals, reported once; others
/// (401, 403, 404 and 408 as well as 409, 429 and 5xx) back off and retry.
/// </summary>
public sealed class ControllerTests : IAsyncLifetime
{
    private const string Namespace = "flyte";
    private readonly KubeApiEmulator api = new();
    private readonly CancellationTokenSource stop = new();
    private readonly MetricsRegistry registry = new();
    private Kubernetes client = null!;

    public Task InitializeAsync()
    {
        TorchFerryCrds.Install(api);
        client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Endpoint.ToString() });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await stop.CancelAsync();
        client.Dispose();
        await api.DisposeAsync();
        stop.Dispose();
    }

    [Fact]
    public async Task Reconcile_RefusedByTheApiServer_IsForgottenNotRetried_AndReportedOnce()
    {
        var attempts = 0;
        var reports = new System.Collections.Concurrent.ConcurrentQueue<(string Name, string Message)>();
        Start(async (item, token) =>
        {
            Interlocked.Increment(ref attempts);

            // A real 422: a JSON patch whose test fails.
            await client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("""[{"op":"test","path":"/spec/source/uri","value":"s3://elsewhere/x.pt"}]""", V1Patch.PatchType.JsonPatch), CheckpointArtifact.Group, CheckpointArtifact.Version, Namespace, CheckpointArtifact.Plural, item.Metadata.Name, cancellationToken: token);
            return ReconcileResult.Done;
        }, (item, message, _) =>
        {
            reports.Enqueue((item.Metadata.Name, message));
            return Task.CompletedTask;
        });

        await CreateAsync("a");

        await Eventually(() => Count("terminal") == 1);
        await Task.Delay(500);
        Assert.Equal(1, attempts);
        Assert.Equal(0, Count("error"));
        var report = Assert.Single(reports);
        Assert.Equal("a", report.Name);
        Assert.Contains("422", report.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reconcile_NotFound_IsRetried_ACrdMayNotBeEstablishedYet()
    {
        var attempts = 0;
        Start(async (item, token) =>
        {
            if (Interlocked.Increment(ref attempts) < 3)
            {
                await client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("{}", V1Patch.PatchType.MergePatch), CheckpointArtifact.Group, CheckpointArtifact.Version, Namespace, CheckpointArtifact.Plural, "missing-" + item.Metadata.Name, cancellationToken: token);
            }

            return ReconcileResult.Done;
        });

        await CreateAsync("d");

        await Eventually(() => Count("success") == 1);
        Assert.Equal(0, Count("terminal"));
    }

    [Fact]
    public async Task Reconcile_TerminalError_IsForgottenNotRetried()
    {
        var attempts = 0;
        Start((_, _) =>
        {
            Interlocked.Increment(ref attempts);
            throw new TerminalReconcileException("forbidden URI");
        });

        await CreateAsync("b");

        await Eventually(() => Count("terminal") == 1);
        await Task.Delay(500);
        Assert.Equal(1, attempts);
    }

    [Fact]
    public async Task Reconcile_Conflict_IsRetriedWithBackoff()
    {
        var attempts = 0;
        Start((_, _) =>
        {
            if (Interlocked.Increment(ref attempts) < 3)
            {
                throw new HttpOperationException("conflict") { Response = new HttpResponseMessageWrapper(new HttpResponseMessage(System.Net.HttpStatusCode.Conflict), string.Empty) };
            }

            return Task.FromResult(ReconcileResult.Done);
        });

        await CreateAsync("c");

        await Eventually(() => Count("success") == 1);
        Assert.Equal(2, Count("error"));
        Assert.Equal(0, Count("terminal"));
    }

    [Fact]
    public async Task Reconcile_Done_ReleasesTheBody_Requeued_KeepsIt()
    {
        var informer = Start((item, _) => Task.FromResult(item.Metadata.Name == "waiting" ? new ReconcileResult(TimeSpan.FromMinutes(5)) : ReconcileResult.Done), shell: true);
        await CreateAsync("handled");
        await CreateAsync("waiting");

        await Eventually(() => Count("success") + Count("requeue_after") == 2);
        Assert.Null(informer.Get(Namespace, "handled"));
        Assert.NotNull(informer.Get(Namespace, "waiting"));
        Assert.Equal(1, informer.Held);
    }

    private ResourceInformer<CheckpointArtifact> Start(Func<CheckpointArtifact, CancellationToken, Task<ReconcileResult>> reconcile, Func<CheckpointArtifact, string, CancellationToken, Task>? reportRefused = null, bool shell = false)
    {
        var log = new LoggerConfiguration().CreateLogger();
        var informer = new ResourceInformer<CheckpointArtifact>(new CustomResourceClient<CheckpointArtifact>(client, CheckpointArtifact.Group, CheckpointArtifact.Version, CheckpointArtifact.Plural, Namespace), new InformerOptions(), TimeProvider.System, log)
        {
            Shell = shell ? a => new CheckpointArtifact { Metadata = new V1ObjectMeta { Name = a.Metadata.Name, NamespaceProperty = a.Metadata.NamespaceProperty, ResourceVersion = a.Metadata.ResourceVersion } } : null,
        };
        var controller = new Controller<CheckpointArtifact>("test", informer, reconcile, 1, new ControllerMetrics(registry), TimeProvider.System, log, reportRefused);
        _ = Task.Run(() => controller.RunAsync(stop.Token));
        return informer;
    }

    private double Count(string result)
    {
        var line = registry.RenderAsync().GetAwaiter().GetResult().Split('\n')
            .FirstOrDefault(l => l.StartsWith($"controller_runtime_reconcile_total{{controller=\"test\",result=\"{result}\"}}", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    private Task CreateAsync(string name) => client.CustomObjects.CreateNamespacedCustomObjectAsync(
        new CheckpointArtifact
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = Namespace },
            Spec = new ArtifactSpec { Source = new ArtifactSource { Uri = $"s3://bucket/{name}.pt", Format = FlyteBlobFormat.PyTorchCheckpoint } },
        },
        CheckpointArtifact.Group,
        CheckpointArtifact.Version,
        Namespace,
        CheckpointArtifact.Plural);

    private static Task Eventually(Func<bool> condition) =>
        Poll.UntilAsync(condition, TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(20));
}
