using Prometheus;

namespace TorchFerry.Runtime.Hosting;

/// <summary>
/// One process's Prometheus metrics (prometheus-net): what its components register, plus the
/// process and .NET runtime metrics (<c>process_*</c>, <c>dotnet_*</c>). Each host owns one, so
/// hosts in one test process do not share counts.
/// </summary>
internal sealed class MetricsRegistry
{
    public MetricsRegistry()
    {
        Registry = Metrics.NewCustomRegistry();
        Factory = Metrics.WithCustomRegistry(Registry);
        DotNetStats.Register(Registry);

        // Bytes allocated since the process started: with a request counter, what each request costs
        // the GC (dotnet_* has collections and heap size, not allocations).
        var allocated = Factory.CreateGauge("dotnet_gc_allocated_bytes_total", "Bytes allocated on the managed heap since the process started.");
        BeforeScrape(() => allocated.Set(GC.GetTotalAllocatedBytes()));
    }

    /// <summary>Where components create their counters, gauges and histograms.</summary>
    public IMetricFactory Factory { get; }

    internal CollectorRegistry Registry { get; }

    /// <summary>Runs <paramref name="callback"/> before every scrape (gauges read from live state).</summary>
    public void BeforeScrape(Action callback) => Registry.AddBeforeCollectCallback(callback);

    /// <summary>The exposition text, as <c>/metrics</c> serves it.</summary>
    public async Task<string> RenderAsync(CancellationToken cancellationToken = default)
    {
        using var buffer = new MemoryStream();
        await Registry.CollectAndExportAsTextAsync(buffer, cancellationToken).ConfigureAwait(false);
        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
