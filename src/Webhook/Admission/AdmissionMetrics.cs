using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace TorchFerry.Webhook.Admission;

/// <summary>Admission counts by outcome and request durations, in Prometheus text format.</summary>
internal sealed class AdmissionMetrics
{
    private static readonly double[] Buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
    private readonly ConcurrentDictionary<string, long> outcomes = new();
    private readonly long[] buckets = new long[Buckets.Length];
    private long count;
    private long sumMicroseconds;

    public void Count(string outcome) => outcomes.AddOrUpdate(outcome, 1, (_, n) => n + 1);

    public void Observe(TimeSpan duration)
    {
        var seconds = duration.TotalSeconds;
        for (var i = 0; i < Buckets.Length; i++)
        {
            if (seconds <= Buckets[i])
            {
                Interlocked.Increment(ref buckets[i]);
            }
        }

        Interlocked.Increment(ref count);
        Interlocked.Add(ref sumMicroseconds, (long)(seconds * 1_000_000));
    }

    public string Render()
    {
        var text = new StringBuilder("# HELP torchferry_admission_requests_total Admission requests by outcome.\n# TYPE torchferry_admission_requests_total counter\n");
        foreach (var (outcome, value) in outcomes)
        {
            text.Append(CultureInfo.InvariantCulture, $"torchferry_admission_requests_total{{outcome=\"{outcome}\"}} {value}\n");
        }

        text.Append("# HELP torchferry_admission_duration_seconds Time to answer an admission request.\n# TYPE torchferry_admission_duration_seconds histogram\n");
        for (var i = 0; i < Buckets.Length; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"torchferry_admission_duration_seconds_bucket{{le=\"{Buckets[i]}\"}} {Interlocked.Read(ref buckets[i])}\n");
        }

        var total = Interlocked.Read(ref count);
        text.Append(CultureInfo.InvariantCulture, $"torchferry_admission_duration_seconds_bucket{{le=\"+Inf\"}} {total}\ntorchferry_admission_duration_seconds_sum {Interlocked.Read(ref sumMicroseconds) / 1e6}\ntorchferry_admission_duration_seconds_count {total}\n");
        return text.ToString();
    }
}
