using Prometheus;
using TorchFerry.Runtime.Hosting;

namespace TorchFerry.Webhook.Admission;

/// <summary>Admission requests by outcome, their durations, and values refused at the edge.</summary>
internal sealed class AdmissionMetrics
{
    private static readonly double[] Buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
    private readonly Counter outcomes;
    private readonly Counter refused;
    private readonly Histogram durations;

    public AdmissionMetrics(MetricsRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        outcomes = registry.Factory.CreateCounter("torchferry_admission_requests_total", "Admission requests by outcome.", ["outcome"]);
        refused = registry.Factory.CreateCounter("torchferry_admission_refused_values_total", "Values on pods or profiles refused at admission (the step they ask for is skipped).", ["field"]);
        durations = registry.Factory.CreateHistogram("torchferry_admission_duration_seconds", "Time to answer an admission request.", new HistogramConfiguration { Buckets = Buckets });
    }

    public void Count(string outcome) => outcomes.WithLabels(outcome).Inc();

    public void Refused(string field) => refused.WithLabels(field).Inc();

    public void Observe(TimeSpan duration) => durations.Observe(duration.TotalSeconds);
}
