using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace TorchFerry.TestSupport.Kubernetes;

/// <summary>
/// A mutating webhook for emulator tests: HTTPS with a certificate for its Service's DNS name signed
/// by its own CA, answering each AdmissionReview with what <see cref="Respond"/> returns, and the
/// MutatingWebhookConfiguration that points the API server at it.
/// </summary>
public sealed class TestWebhook : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly X509Certificate2 authority;

    public TestWebhook(string service = "test-webhook", string @namespace = "webhooks")
    {
        Service = service;
        Namespace = @namespace;
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=test-webhook-ca", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        var now = DateTimeOffset.UtcNow;
        authority = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(2));
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={service}.{@namespace}.svc", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName($"{service}.{@namespace}.svc");
        request.CertificateExtensions.Add(names.Build());
        using var signed = request.Create(authority, now.AddMinutes(-5), now.AddDays(1), [1, 2, 3, 4]);
        var serving = X509CertificateLoader.LoadPkcs12(signed.CopyWithPrivateKey(key).Export(X509ContentType.Pkcs12), null);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(serving)));
        app = builder.Build();
        app.MapPost("/mutate", HandleAsync);
        app.StartAsync().GetAwaiter().GetResult();
        Endpoint = new Uri(app.Urls.First());
    }

    public string Service { get; }

    public string Namespace { get; }

    public Uri Endpoint { get; }

    /// <summary>The response for a review's request (uid is filled in); allowed with no patch by default.</summary>
    public Func<JsonObject, JsonObject> Respond { get; set; } = _ => new JsonObject { ["allowed"] = true };

    /// <summary>How many reviews it answered.</summary>
    public int Calls { get; private set; }

    /// <summary>A response that applies <paramref name="patch"/> (a JSON patch).</summary>
    public static JsonObject Patch(JsonArray patch) => new()
    {
        ["allowed"] = true,
        ["patchType"] = "JSONPatch",
        ["patch"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(patch.ToJsonString())),
    };

    /// <summary>A MutatingWebhookConfiguration for pod CREATE pointing at this webhook's Service, trusting its CA (or <paramref name="caBundlePem"/>).</summary>
    public JsonObject Configuration(string name, string failurePolicy, JsonObject? objectSelector = null, int timeoutSeconds = 10, string? caBundlePem = null, string reinvocationPolicy = "Never") => new()
    {
        ["apiVersion"] = "admissionregistration.k8s.io/v1",
        ["kind"] = "MutatingWebhookConfiguration",
        ["metadata"] = new JsonObject { ["name"] = name },
        ["webhooks"] = new JsonArray(new JsonObject
        {
            ["name"] = $"{name}.test.io",
            ["admissionReviewVersions"] = new JsonArray("v1"),
            ["sideEffects"] = "None",
            ["failurePolicy"] = failurePolicy,
            ["timeoutSeconds"] = timeoutSeconds,
            ["reinvocationPolicy"] = reinvocationPolicy,
            ["clientConfig"] = new JsonObject
            {
                ["service"] = new JsonObject { ["name"] = Service, ["namespace"] = Namespace, ["path"] = "/mutate", ["port"] = 443 },
                ["caBundle"] = Convert.ToBase64String(Encoding.ASCII.GetBytes(caBundlePem ?? authority.ExportCertificatePem())),
            },
            ["rules"] = new JsonArray(new JsonObject
            {
                ["operations"] = new JsonArray("CREATE"),
                ["apiGroups"] = new JsonArray(string.Empty),
                ["apiVersions"] = new JsonArray("v1"),
                ["resources"] = new JsonArray("pods"),
            }),
            ["objectSelector"] = objectSelector?.DeepClone(),
        }),
    };

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
        authority.Dispose();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var review = (await System.Text.Json.Nodes.JsonNode.ParseAsync(context.Request.Body))!.AsObject();
        Calls++;
        var response = Respond(review["request"]!.AsObject());
        response["uid"] = review["request"]!["uid"]!.DeepClone();
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(new JsonObject { ["apiVersion"] = "admission.k8s.io/v1", ["kind"] = "AdmissionReview", ["response"] = response }.ToJsonString());
    }
}
