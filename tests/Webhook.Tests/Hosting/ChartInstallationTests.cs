using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Serilog;
using TorchFerry.Crds;
using TorchFerry.TestSupport;
using TorchFerry.TestSupport.Kubernetes;
using TorchFerry.Webhook.Admission;
using TorchFerry.Webhook.Hosting;
using TorchFerry.Webhook.Mutation;
using TorchFerry.Webhook.Profiles;

namespace TorchFerry.Webhook.Tests.Hosting;

/// <summary>
/// The webhook as the Helm chart installs it: serving the chart-generated certificate, reached the
/// way the API server reaches it (the Service's DNS name, trusting only the configuration's caBundle),
/// reading DeviceProfiles with the chart's RBAC and nothing more.
/// </summary>
public sealed class ChartInstallationTests : IAsyncLifetime
{
    private const string Release = "torchferry";
    private const string ReleaseNamespace = "torchferry-system";
    private const string Token = "webhook-service-account-token";
    private readonly TemporaryDirectory folder = new();
    private readonly KubeApiEmulator api = new();
    private readonly CancellationTokenSource stop = new();
    private readonly RenderedChart chart = Helm.Template(Release, ReleaseNamespace);
    private k8s.Kubernetes webhookClient = null!;
    private InformerProfileSource profiles = null!;
    private Task informing = Task.CompletedTask;
    private WebhookServer server = null!;

    public async Task InitializeAsync()
    {
        TorchFerryCrds.Install(api);
        using (var admin = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = api.Endpoint.ToString() }))
        {
            await admin.CustomObjects.CreateNamespacedCustomObjectAsync(
                new DeviceProfile
                {
                    Metadata = new V1ObjectMeta { Name = "train", NamespaceProperty = "flytesnacks-development" },
                    Spec = new DeviceProfileSpec { Selector = new V1LabelSelector(), Device = new DeviceRequest { Type = DeviceType.Gpu, Count = 1 } },
                },
                DeviceProfile.Group,
                DeviceProfile.Version,
                "flytesnacks-development",
                "deviceprofiles");
        }

        var secret = chart.Single("Secret");
        await File.WriteAllTextAsync(folder.File("tls.crt"), RenderedChart.SecretText(secret, "tls.crt"));
        await File.WriteAllTextAsync(folder.File("tls.key"), RenderedChart.SecretText(secret, "tls.key"));
        var log = new LoggerConfiguration().CreateLogger();
        webhookClient = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = api.Endpoint.ToString(), AccessToken = Token });
        profiles = new InformerProfileSource(webhookClient, TimeProvider.System, log);
        informing = profiles.RunAsync(stop.Token);
        var args = chart.Arguments("webhook");
        server = new WebhookServer(
            profiles,
            new AdmissionOptions { Mutation = new MutationOptions(args["--prepare-inputs-image"]), OwnNamespace = args["--namespace"] },
            new CertificateReloader(folder.File("tls.crt"), folder.File("tls.key"), TimeProvider.System, log),
            new IPEndPoint(IPAddress.Loopback, 0),
            log);
        await server.StartAsync(default);
        await Poll.UntilAsync(() => profiles.Ready, TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(20));
    }

    public async Task DisposeAsync()
    {
        await server.DisposeAsync();
        await stop.CancelAsync();
        await informing;
        webhookClient.Dispose();
        await api.DisposeAsync();
        folder.Dispose();
        stop.Dispose();
    }

    [Fact]
    public async Task Review_OverTheServiceName_TrustingOnlyTheCaBundle_MutatesAFlytePod()
    {
        var webhook = chart.Single("MutatingWebhookConfiguration")["webhooks"]![0]!;
        var service = webhook["clientConfig"]!["service"]!;
        var host = $"{service["name"]!.GetValue<string>()}.{service["namespace"]!.GetValue<string>()}.svc";
        using var http = ApiServerLikeClient(chart.CaBundlePem);

        using var response = await http.PostAsJsonAsync(new Uri($"https://{host}:{service["port"]}{service["path"]}"), Review());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = (await response.Content.ReadFromJsonAsync<JsonObject>())!["response"]!;
        var patch = JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(answer["patch"]!.GetValue<string>())))!.AsArray();
        Assert.Contains(patch, op => op!["path"]!.GetValue<string>().Contains("resources", StringComparison.Ordinal) && op.ToJsonString().Contains("nvidia.com/gpu", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Handshake_WithAnotherInstallationsCaBundle_IsRefusedForItsChain()
    {
        var refusals = new List<string>();
        using var http = ApiServerLikeClient(Helm.Template(Release, ReleaseNamespace).CaBundlePem, refusals.Add);

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(new Uri($"https://{Release}-webhook.{ReleaseNamespace}.svc/healthz")));

        Assert.IsType<System.Security.Authentication.AuthenticationException>(error.InnerException);
        Assert.StartsWith("untrusted chain: ", Assert.Single(refusals), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Handshake_UnderANameTheCertificateDoesNotHold_IsRefusedForTheName()
    {
        var refusals = new List<string>();
        using var http = ApiServerLikeClient(chart.CaBundlePem, refusals.Add);

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(new Uri($"https://{Release}-webhook.elsewhere.svc/healthz")));

        Assert.IsType<System.Security.Authentication.AuthenticationException>(error.InnerException);
        Assert.Equal(["name mismatch"], refusals);
    }

    [Fact]
    public async Task WebhookApiCalls_AreExactlyWhatTheChartGrantsItsServiceAccount()
    {
        using var admin = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = api.Endpoint.ToString() });
        await admin.CustomObjects.CreateNamespacedCustomObjectAsync(
            new DeviceProfile
            {
                Metadata = new V1ObjectMeta { Name = "evaluate", NamespaceProperty = "flytesnacks-development" },
                Spec = new DeviceProfileSpec { Selector = new V1LabelSelector(), Device = new DeviceRequest { Type = DeviceType.Cpu }, InputsDevice = "cpu" },
            },
            DeviceProfile.Group,
            DeviceProfile.Version,
            "flytesnacks-development",
            "deviceprofiles");
        await Poll.UntilAsync(() => profiles.Profiles.Count == 2, TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(20));

        var policy = RbacPolicy.For(chart.Objects, chart.Deployment("webhook")["spec"]!["template"]!["spec"]!["serviceAccountName"]!.GetValue<string>(), ReleaseNamespace);
        var calls = api.Calls.Where(c => c.User == Token).ToList();
        Assert.NotEmpty(calls);
        Assert.Empty(policy.Refused(calls));
        Assert.Empty(policy.Unused(calls));
    }

    /// <summary>A client that dials the webhook on loopback under any host name and trusts only the given PEM bundle, as the API server does.</summary>
    private HttpClient ApiServerLikeClient(string caBundlePem, Action<string>? refused = null)
    {
        var roots = CaBundle.Parse(caBundlePem);
        var endpoint = new IPEndPoint(IPAddress.Loopback, server.Endpoint!.Port);
        return new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(endpoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            },
            SslOptions =
            {
                RemoteCertificateValidationCallback = CaBundle.Trusting(roots, refused),
            },
        });
    }

    private static JsonObject Review() => new()
    {
        ["apiVersion"] = "admission.k8s.io/v1",
        ["kind"] = "AdmissionReview",
        ["request"] = new JsonObject
        {
            ["uid"] = "uid-chart",
            ["kind"] = new JsonObject { ["group"] = string.Empty, ["version"] = "v1", ["kind"] = "Pod" },
            ["resource"] = new JsonObject { ["group"] = string.Empty, ["version"] = "v1", ["resource"] = "pods" },
            ["namespace"] = "flytesnacks-development",
            ["operation"] = "CREATE",
            ["object"] = JsonNode.Parse("""
                {"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "f-n0-0", "namespace": "flytesnacks-development", "labels": {"execution-id": "f", "node-id": "n0", "task-name": "workflows-train-train-model"}},
                 "spec": {"containers": [{"name": "f-n0-0", "image": "flytekit", "args": ["pyflyte-execute", "--inputs", "s3://flyte/metadata/f/n0/data/inputs.pb", "--output-prefix", "s3://flyte/metadata/f/n0/data/0"]}]}}
                """),
            ["dryRun"] = false,
        },
    };
}
