using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Serilog;
using TorchFerry.TestSupport;
using TorchFerry.Webhook.Admission;
using TorchFerry.Webhook.Hosting;
using TorchFerry.Webhook.Mutation;
using TorchFerry.Webhook.Profiles;

namespace TorchFerry.Webhook.Tests.Hosting;

/// <summary>Real HTTPS requests to the running webhook, with a certificate made by the test; patches applied by kubectl.</summary>
public sealed class WebhookServerTests : IAsyncLifetime
{
    private readonly TemporaryDirectory folder = new();
    private WebhookServer server = null!;
    private DirectoryProfileSource profiles = null!;
    private string expectedThumbprint = string.Empty;
    private HttpClient http = null!;

    public async Task InitializeAsync()
    {
        WriteCertificate("first");
        var profilesDir = Path.Combine(folder.Path, "profiles");
        Directory.CreateDirectory(profilesDir);
        File.Copy(Path.Combine(RepositoryPaths.Root, "config", "samples", "deviceprofile-gpu.yaml"), Path.Combine(profilesDir, "gpu.yaml"));
        var log = new LoggerConfiguration().CreateLogger();
        profiles = new DirectoryProfileSource(profilesDir, log);
        server = new WebhookServer(
            profiles,
            new AdmissionOptions { Mutation = new MutationOptions("ghcr.io/torchferry/torchferry:test") },
            new CertificateReloader(folder.File("tls.crt"), folder.File("tls.key"), TimeProvider.System, log),
            new IPEndPoint(IPAddress.Loopback, 0),
            log);
        await server.StartAsync(default);
        http = new HttpClient(new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is X509Certificate2 c && c.Thumbprint == expectedThumbprint },
            PooledConnectionLifetime = TimeSpan.Zero,
        })
        { BaseAddress = server.Endpoint };
    }

    public async Task DisposeAsync()
    {
        http.Dispose();
        await server.DisposeAsync();
        profiles.Dispose();
        folder.Dispose();
    }

    [Fact]
    public async Task Review_GpuFlytePod_GetsAPatchKubectlApplies_AndTheMutatedPodGetsNone()
    {
        var pod = FlytePod();

        var response = await ReviewAsync(AdmissionFixtures.Review("uid-1", pod));

        Assert.Equal("uid-1", response["uid"]!.GetValue<string>());
        Assert.True(response["allowed"]!.GetValue<bool>());
        Assert.Equal("JSONPatch", response["patchType"]!.GetValue<string>());
        var patch = JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(response["patch"]!.GetValue<string>())))!.AsArray();
        var mutated = Kubectl.PatchLocally(pod, patch);
        Assert.Equal("1", mutated["spec"]!["containers"]![0]!["resources"]!["limits"]!["nvidia.com/mig-1g.10gb"]!.GetValue<string>());

        var again = await ReviewAsync(AdmissionFixtures.Review("uid-2", mutated));
        Assert.Null(again["patch"]);
        Assert.True(again["allowed"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Review_DryRun_IsAnsweredTheSame()
    {
        var plain = await ReviewAsync(AdmissionFixtures.Review("uid-3", FlytePod()));
        var review = AdmissionFixtures.Review("uid-3", FlytePod());
        review["request"]!["dryRun"] = true;

        var response = await ReviewAsync(review);

        Assert.Equal("JSONPatch", response["patchType"]!.GetValue<string>());
        Assert.True(JsonNode.DeepEquals(plain, response), $"dry run answered differently:\n{plain}\n{response}");
    }

    [Theory]
    [InlineData("kube-system", true)]
    [InlineData("torchferry-system", true)]
    [InlineData("flytesnacks-development", false)]
    public async Task Review_SystemNamespacesAndNonFlytePods_AreAllowedUnchanged(string @namespace, bool flyte)
    {
        var pod = FlytePod();
        if (!flyte)
        {
            pod["metadata"]!["labels"]!.AsObject().Remove("execution-id");
        }

        var review = AdmissionFixtures.Review("uid-4", pod);
        review["request"]!["namespace"] = @namespace;

        var response = await ReviewAsync(review);

        Assert.True(response["allowed"]!.GetValue<bool>());
        Assert.Null(response["patch"]);
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("{\"apiVersion\": \"admission.k8s.io/v1\", \"kind\": \"AdmissionReview\"")]
    [InlineData("{\"apiVersion\": \"admission.k8s.io/v1beta1\", \"kind\": \"AdmissionReview\", \"request\": {\"uid\": \"x\"}}")]
    [InlineData("{\"kind\": \"AdmissionReview\", \"request\": {}}")]
    [InlineData("[1, 2, 3]")]
    public async Task Review_MalformedBodies_Get400AndTheServerStaysUp(string body)
    {
        using var response = await http.PostAsync(new Uri("/mutate-pods", UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task Review_OversizedBody_IsRefused()
    {
        var huge = new string('x', (int)WebhookServer.MaxBodyBytes + 1024);

        // With Expect: 100-continue the client waits for the server's verdict on the headers before
        // sending the body, so the 413 always arrives (without it the server may close the
        // connection mid-upload, which would be indistinguishable from any dropped connection).
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/mutate-pods", UriKind.Relative))
        {
            Content = new StringContent("{\"pad\":\"" + huge + "\"}", Encoding.UTF8, "application/json"),
        };
        request.Headers.ExpectContinue = true;
        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task Certificate_RotatedOnDisk_IsServedOnNewConnections()
    {
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);

        WriteCertificate("second");
        File.SetLastWriteTimeUtc(folder.File("tls.crt"), DateTime.UtcNow.AddSeconds(5));
        File.SetLastWriteTimeUtc(folder.File("tls.key"), DateTime.UtcNow.AddSeconds(5));
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            try
            {
                if ((await http.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode == HttpStatusCode.OK)
                {
                    break;
                }
            }
            catch (HttpRequestException)
            {
                // Still the old certificate: our client only trusts the new one now.
            }

            Assert.True(DateTime.UtcNow < deadline, "the rotated certificate was not served within 15 s");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task Metrics_CountOutcomes_AndReadyzIsOk()
    {
        await ReviewAsync(AdmissionFixtures.Review("uid-5", FlytePod()));

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode);
        Assert.Contains("torchferry_admission_requests_total{outcome=\"mutated\"}", await http.GetStringAsync(new Uri("/metrics", UriKind.Relative)), StringComparison.Ordinal);
    }

    private async Task<JsonObject> ReviewAsync(JsonObject review)
    {
        using var response = await http.PostAsJsonAsync(new Uri("/mutate-pods", UriKind.Relative), review);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal("AdmissionReview", body["kind"]!.GetValue<string>());
        return body["response"]!.AsObject();
    }

    private void WriteCertificate(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=torchferry-webhook-{name}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllText(folder.File("tls.crt"), certificate.ExportCertificatePem());
        File.WriteAllText(folder.File("tls.key"), key.ExportPkcs8PrivateKeyPem());
        expectedThumbprint = certificate.Thumbprint;
    }

    private static JsonObject FlytePod() => JsonNode.Parse("""
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "f-n0-0", "namespace": "flytesnacks-development",
                      "labels": {"execution-id": "f", "node-id": "n0", "task-name": "workflows-train-train-model", "project": "flytesnacks", "domain": "development"}},
         "spec": {"containers": [{"name": "f-n0-0", "image": "cr.flyte.org/flyteorg/flytekit:py3.11",
                                   "args": ["pyflyte-execute", "--inputs", "s3://flyte/metadata/f/n0/data/inputs.pb", "--output-prefix", "s3://flyte/metadata/f/n0/data/0", "--raw-output-data-prefix", "s3://flyte/raw/ab", "--resolver", "flytekit.core.python_auto_container.default_task_resolver", "--", "task-module", "workflows.train", "task-name", "train_model"]}],
                  "restartPolicy": "Never"}}
        """)!.AsObject();
}
