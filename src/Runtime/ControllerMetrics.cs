using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace TorchFerry.Runtime;

/// <summary>
/// controller-runtime's metrics in Prometheus text format: reconcile totals by result, errors,
/// durations (histogram) and work queue depth, adds and retries, per controller.
/// </summary>
internal sealed class ControllerMetrics
{
    private static readonly double[] Buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
    private readonly ConcurrentDictionary<(string Controller, string Result), long> reconciles = new();
    private readonly ConcurrentDictionary<string, long> errors = new();
    private readonly ConcurrentDictionary<string, long> adds = new();
    private readonly ConcurrentDictionary<string, long> retries = new();
    private readonly ConcurrentDictionary<string, Func<int>> depth = new();
    private readonly ConcurrentDictionary<string, Histogram> durations = new();

    public void Reconciled(string controller, string result, TimeSpan duration)
    {
        reconciles.AddOrUpdate((controller, result), 1, (_, n) => n + 1);
        if (result == "error")
        {
            errors.AddOrUpdate(controller, 1, (_, n) => n + 1);
        }

        durations.GetOrAdd(controller, _ => new Histogram()).Observe(duration.TotalSeconds);
    }

    public void Added(string controller) => adds.AddOrUpdate(controller, 1, (_, n) => n + 1);

    public void Retried(string controller) => retries.AddOrUpdate(controller, 1, (_, n) => n + 1);

    public void TrackDepth(string controller, Func<int> queueDepth) => depth[controller] = queueDepth;

    /// <summary>The exposition text for /metrics.</summary>
    public string Render()
    {
        var text = new StringBuilder();
        Family(text, "controller_runtime_reconcile_total", "counter", "Reconciles per controller and result.", reconciles.Select(kv => ($"controller=\"{kv.Key.Controller}\",result=\"{kv.Key.Result}\"", (double)kv.Value)));
        Family(text, "controller_runtime_reconcile_errors_total", "counter", "Reconciles that failed.", errors.Select(kv => ($"controller=\"{kv.Key}\"", (double)kv.Value)));
        Family(text, "workqueue_depth", "gauge", "Keys waiting in the work queue.", depth.Select(kv => ($"name=\"{kv.Key}\"", (double)kv.Value())));
        Family(text, "workqueue_adds_total", "counter", "Keys added to the work queue.", adds.Select(kv => ($"name=\"{kv.Key}\"", (double)kv.Value)));
        Family(text, "workqueue_retries_total", "counter", "Rate-limited re-adds.", retries.Select(kv => ($"name=\"{kv.Key}\"", (double)kv.Value)));
        text.Append("# HELP controller_runtime_reconcile_time_seconds Reconcile durations.\n# TYPE controller_runtime_reconcile_time_seconds histogram\n");
        foreach (var (controller, histogram) in durations)
        {
            histogram.Render(text, "controller_runtime_reconcile_time_seconds", $"controller=\"{controller}\"");
        }

        return text.ToString();
    }

    private static void Family(StringBuilder text, string name, string type, string help, IEnumerable<(string Labels, double Value)> samples)
    {
        text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} {type}\n");
        foreach (var (labels, value) in samples)
        {
            text.Append(CultureInfo.InvariantCulture, $"{name}{{{labels}}} {value}\n");
        }
    }

    private sealed class Histogram
    {
        private readonly long[] counts = new long[Buckets.Length];
        private readonly Lock gate = new();
        private long count;
        private double sum;

        public void Observe(double value)
        {
            lock (gate)
            {
                for (var i = 0; i < Buckets.Length; i++)
                {
                    if (value <= Buckets[i])
                    {
                        counts[i]++;
                    }
                }

                count++;
                sum += value;
            }
        }

        public void Render(StringBuilder text, string name, string labels)
        {
            lock (gate)
            {
                for (var i = 0; i < Buckets.Length; i++)
                {
                    text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{labels},le=\"{Buckets[i]}\"}} {counts[i]}\n");
                }

                text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{labels},le=\"+Inf\"}} {count}\n{name}_sum{{{labels}}} {sum}\n{name}_count{{{labels}}} {count}\n");
            }
        }
    }
}
