using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using TorchFerry.Contract;
using TorchFerry.Crds;
using TorchFerry.Operator.Artifacts;
using TorchFerry.Operator.Flyte;
using TorchFerry.Runtime;
using TorchFerry.Runtime.Hosting;
using TorchFerry.Storage;
using ILogger = Serilog.ILogger;

namespace TorchFerry.Operator.Hosting;

/// <summary>
/// The operator process: controllers for TensorArtifact, CheckpointArtifact and Flyte task pods running only while
/// this replica holds the Lease, and an HTTP endpoint with /metrics, /healthz and /readyz. Stops
/// gracefully when its token is cancelled (SIGTERM): controllers first, then the Lease is released.
/// </summary>
internal sealed class OperatorHost(IKubernetes client, ObjectStoreRouter stores, OperatorOptions options, TimeProvider time, ILogger log)
{
    private readonly ControllerMetrics metrics = new(new MetricsRegistry());
    private volatile bool leading;
    private volatile Func<bool> synced = () => false;

    /// <summary>The HTTP address actually bound (after start).</summary>
    public Uri? HttpEndpoint { get; private set; }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var app = BuildHttp();
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        HttpEndpoint = new Uri(app.Urls.First());
        log.Information("Serving /metrics, /healthz and /readyz on {Address}", HttpEndpoint);

        // SIGTERM cancels the token: the controllers stop (conversions abort, nothing partial is left),
        // then the Lease is released so the other replica takes over at once, then /healthz goes.
        try
        {
            if (options.LeaderElection)
            {
                var gate = new LeaderGate(client, new LeaderGateOptions(options.LeaseNamespace, options.LeaseName, options.Identity)
                {
                    LeaseDuration = options.LeaseDuration,
                    RenewDeadline = options.RenewDeadline,
                    RetryPeriod = options.RetryPeriod,
                }, time, log, new LeaderElectionMetrics(metrics.Registry));
                await gate.RunAsync(RunControllersAsync, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await RunControllersAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task RunControllersAsync(CancellationToken term)
    {
        leading = true;
        try
        {
            var policy = new UriPolicy(options.AllowedPrefixes, options.Variants);
            var synchronizer = new ArtifactSynchronizer(stores, policy, time, log);
            var events = new EventRecorder(client, "torchferry-operator", time, log);
            var checkpoints = ArtifactController<CheckpointArtifact>(CheckpointArtifact.Plural, synchronizer, events);
            var tensors = ArtifactController<TensorArtifact>(TensorArtifact.Plural, synchronizer, events);
            var pods = new Controller<V1Pod>(
                "flyte-pods",
                new ResourceInformer<V1Pod>(new PodClient(client, FlyteLabels.Selector, options.WatchNamespace), new InformerOptions(), time, log) { Transform = FlytePodProjection.Strip, Shell = FlytePodProjection.Shell },
                new FlytePodReconciler(client, stores, policy, events, time, log) { DefaultTtlAfterUnused = options.DefaultTtlAfterUnused }.ReconcileAsync,
                options.Workers,
                metrics,
                time,
                log);
            synced = () => checkpoints.Synced.IsCompletedSuccessfully && tensors.Synced.IsCompletedSuccessfully && pods.Synced.IsCompletedSuccessfully;
            await Task.WhenAll(checkpoints.RunAsync(term), tensors.RunAsync(term), pods.RunAsync(term)).ConfigureAwait(false);
        }
        finally
        {
            leading = false;
            synced = () => false;
        }
    }

    private Controller<T> ArtifactController<T>(string plural, ArtifactSynchronizer synchronizer, EventRecorder events)
        where T : TorchFerryResource<ArtifactSpec, ArtifactStatus>
    {
        var informer = new ResourceInformer<T>(
            new CustomResourceClient<T>(client, TensorArtifact.Group, TensorArtifact.Version, plural, options.WatchNamespace),
            new InformerOptions(),
            time,
            log);
        var reconciler = new ArtifactReconciler<T>(client, synchronizer, events, plural, time, log);
        return new Controller<T>(plural, informer, reconciler.ReconcileAsync, options.Workers, metrics, time, log, (item, message, token) => events.RecordAsync(item, "Warning", ConditionReasons.Rejected, message, token));
    }

    private WebApplication BuildHttp()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.LeaveSignalsToTheCommandLine();
        builder.WebHost.UseUrls(options.HttpAddress);
        var app = builder.Build();

        // A standby replica is ready; a leader once its informers have listed everything.
        app.MapProbes(() => !leading || synced() ? null : "informers not synced", metrics.Registry);
        return app;
    }
}
