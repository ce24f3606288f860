using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace TorchFerry.Runtime.Hosting;

/// <summary>The endpoints every TorchFerry server has: <c>/healthz</c>, <c>/readyz</c> and <c>/metrics</c>.</summary>
internal static class ProbeEndpoints
{
    private const string PrometheusTextFormat = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>
    /// Maps the probes: liveness always answers while the process serves; readiness answers 503 with
    /// <paramref name="notReady"/>'s reason until it returns null; metrics come from <paramref name="metrics"/>.
    /// </summary>
    public static void MapProbes(this WebApplication app, Func<string?> notReady, MetricsRegistry metrics)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(metrics);
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/readyz", () => notReady() is { } reason ? Results.Text(reason, statusCode: StatusCodes.Status503ServiceUnavailable) : Results.Text("ok"));
        app.MapGet("/metrics", async context =>
        {
            context.Response.ContentType = PrometheusTextFormat;
            await metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        });
    }
}
