using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;
using TorchFerry.Runtime.Hosting;
using TorchFerry.Webhook.Admission;
using TorchFerry.Webhook.Profiles;
using ILogger = Serilog.ILogger;

namespace TorchFerry.Webhook.Hosting;

/// <summary>
/// The HTTPS admission server: <c>POST /mutate-pods</c>, <c>/healthz</c>, <c>/readyz</c> and
/// <c>/metrics</c>, with the certificate reloaded on rotation and request bodies capped.
/// </summary>
internal sealed class WebhookServer(IDeviceProfileSource profiles, AdmissionOptions options, CertificateReloader certificate, IPEndPoint endpoint, ILogger log) : IAsyncDisposable
{
    /// <summary>The API server caps objects at 3 MiB; a review is the object plus a little.</summary>
    public const long MaxBodyBytes = 4L * 1024 * 1024;

    private readonly MetricsRegistry registry = new();
    private WebApplication? app;

    public Uri? Endpoint { get; private set; }

    /// <summary>
    /// Cancelled when the host is told to stop (SIGTERM, handled by ASP.NET's console lifetime), so
    /// the process can shut down gracefully instead of ignoring the signal.
    /// </summary>
    public CancellationToken Stopping => app?.Lifetime.ApplicationStopping ?? CancellationToken.None;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = MaxBodyBytes;
            kestrel.AddServerHeader = false;
            kestrel.Listen(endpoint, listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(https => https.ServerCertificateSelector = (_, _) => certificate.Current);
            });
        });
        app = builder.Build();
        var metrics = new AdmissionMetrics(registry);
        var handler = new AdmissionHandler(profiles, options, metrics, log);
        app.MapPost("/mutate-pods", context => MutateAsync(context, handler, metrics));
        app.MapProbes(() => profiles.Ready ? null : "device profiles not loaded", registry);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        Endpoint = new Uri(app.Urls.First());
    }

    public async ValueTask DisposeAsync()
    {
        if (app is not null)
        {
            await app.StopAsync().ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async Task MutateAsync(HttpContext context, AdmissionHandler handler, AdmissionMetrics metrics)
    {
        var watch = Stopwatch.StartNew();
        JsonNode? body;
        try
        {
            if (context.Request.ContentLength > MaxBodyBytes)
            {
                context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                return;
            }

            body = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException)
        {
            metrics.Count("bad_request");
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("{\"error\":\"the body is not JSON\"}").ConfigureAwait(false);
            return;
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            metrics.Count("too_large");
            context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            return;
        }

        var (status, answer) = handler.Handle(body);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(answer.ToJsonString()).ConfigureAwait(false);
        metrics.Observe(watch.Elapsed);
    }
}
