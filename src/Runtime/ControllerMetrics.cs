using Prometheus;
using TorchFerry.Runtime.Hosting;

namespace TorchFerry.Runtime;

/// <summary>
/// controller-runtime's metrics, by its names, so its dashboards and alerts work unchanged: reconcile
/// totals by result (<c>success</c>, <c>requeue_after</c>, <c>error</c>, <c>terminal</c>,
/// <c>cancelled</c>), errors, terminal errors, durations, and the work queue's depth, adds and retries.
/// </summary>
internal sealed class ControllerMetrics
{
    private static readonly double[] Buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
    private readonly Counter reconciles;
    private readonly Counter errors;
    private readonly Counter terminalErrors;
    private readonly Histogram durations;
    private readonly Counter adds;
    private readonly Counter retries;
    private readonly Gauge depth;
    private readonly MetricsRegistry registry;

    public ControllerMetrics(MetricsRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        this.registry = registry;
        var factory = registry.Factory;
        reconciles = factory.CreateCounter("controller_runtime_reconcile_total", "Total number of reconciliations per controller.", ["controller", "result"]);
        errors = factory.CreateCounter("controller_runtime_reconcile_errors_total", "Total number of reconciliation errors per controller.", ["controller"]);
        terminalErrors = factory.CreateCounter("controller_runtime_terminal_reconcile_errors_total", "Total number of terminal reconciliation errors per controller.", ["controller"]);
        durations = factory.CreateHistogram("controller_runtime_reconcile_time_seconds", "Length of time per reconciliation per controller.", ["controller"], new HistogramConfiguration { Buckets = Buckets });
        adds = factory.CreateCounter("workqueue_adds_total", "Total number of adds handled by workqueue.", ["name"]);
        retries = factory.CreateCounter("workqueue_retries_total", "Total number of retries handled by workqueue.", ["name"]);
        depth = factory.CreateGauge("workqueue_depth", "Current depth of workqueue.", ["name"]);
    }

    /// <summary>Where these metrics are registered (and served from).</summary>
    public MetricsRegistry Registry => registry;

    public void Reconciled(string controller, string result, TimeSpan duration)
    {
        reconciles.WithLabels(controller, result).Inc();
        if (result is "error" or "terminal")
        {
            errors.WithLabels(controller).Inc();
        }

        if (result == "terminal")
        {
            terminalErrors.WithLabels(controller).Inc();
        }

        durations.WithLabels(controller).Observe(duration.TotalSeconds);
    }

    public void Added(string controller) => adds.WithLabels(controller).Inc();

    public void Retried(string controller) => retries.WithLabels(controller).Inc();

    public void TrackDepth(string controller, Func<int> queueDepth)
    {
        var gauge = depth.WithLabels(controller);
        registry.BeforeScrape(() => gauge.Set(queueDepth()));
    }
}
