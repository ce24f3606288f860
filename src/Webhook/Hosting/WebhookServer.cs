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

    // Set by BeginTermination: the server still answers every review, but readiness fails and each
    // response closes its connection, so clients reconnect through the Service, which no longer
    // routes new connections here.
    private volatile bool terminating;

    /// <summary>The first step of a graceful stop (SIGTERM): keep serving, move clients off this replica.</summary>
    public void BeginTermination() => terminating = true;

    /// <summary>Stops accepting connections and waits up to <paramref name="drain"/> for reviews in flight.</summary>
    public async Task StopAsync(TimeSpan drain)
    {
        if (app is not null)
        {
            using var bounded = new CancellationTokenSource(drain);
            await app.StopAsync(bounded.Token).ConfigureAwait(false);
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.LeaveSignalsToTheCommandLine();
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
        app.Use((context, next) =>
        {
            if (terminating && HttpProtocol.IsHttp11(context.Request.Protocol))
            {
                // Keep-alive connections would carry on to this replica after the Service dropped it.
                context.Response.Headers.Connection = "close";
            }

            return next(context);
        });
        app.MapPost("/mutate-pods", context => MutateAsync(context, handler, metrics));
        app.MapProbes(() => terminating ? "shutting down" : profiles.Ready ? null : "device profiles not loaded", registry);
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
