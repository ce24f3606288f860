using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using TorchFerry.TestSupport;
using TorchFerry.TestSupport.Cluster;
using TorchFerry.TestSupport.Kubernetes;
using Xunit.Abstractions;

namespace TorchFerry.Sandbox.Tests;

/// <summary>
/// A rolling update of the webhook under admission load, as Kubernetes runs one: two replicas of the
/// published torchferry-webhook, started from the chart's Deployment, behind a Service made the way
/// kube-proxy makes one (each new connection to a live endpoint, open connections kept). One replica
/// gets SIGTERM; a second later (where a test asks, a second after the replica stopped listening)
/// the endpoint change reaches the Service. Every review must be
/// answered: with <c>failurePolicy: Ignore</c> a failed call is a Flyte pod admitted without its
/// GPU settings or its converted inputs.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class WebhookRolloutTests(ITestOutputHelper output)
{
    private const int RequestsPerSecond = 500;
    private static readonly TimeSpan EndpointPropagation = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task Sigterm_UnderFiveHundredReviewsASecond_WithTheChartsShutdownDelay_NoReviewFails()
    {
        var outcome = await RollOutAsync([]);

        Assert.True(outcome.Answered > 4 * RequestsPerSecond, $"only {outcome.Answered} reviews were answered: the load did not run");
        Assert.Empty(outcome.Failures);
        Assert.Equal(0, outcome.Refused); // the replica listened until the endpoint change had arrived
        Assert.Equal(0, outcome.ExitCode);
        Assert.Contains("Terminating: serving", outcome.TerminatedLog, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sigterm_WithoutAShutdownDelay_ReviewsFail_AsTheySaidTheyWould()
    {
        // The test world can fail the way a real rollout fails: this is what the delay prevents. The
        // endpoint change arrives a second after the replica stopped listening, not after SIGTERM: a
        // replica slow to act on SIGTERM on a loaded machine would otherwise outlast the second and
        // hide the gap.
        var outcome = await RollOutAsync(["--set", "webhook.shutdownDelaySeconds=0"], propagateAfterARefusal: true);

        Assert.NotEmpty(outcome.Failures);
        Assert.Equal(0, outcome.ExitCode);
    }

    private async Task<Outcome> RollOutAsync(IReadOnlyList<string> values, bool propagateAfterARefusal = false)
    {
        using var folder = new TemporaryDirectory();
        await using var api = new KubeApiEmulator();
        var timeline = new Timeline();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await using var installation = await TorchFerryInstallation.InstallAsync(api, folder.Path, timeline, ["--set", "image.repository=torchferry.local/torchferry", .. values], cancel.Token);
        var a = await installation.StartWebhookReplicaAsync("webhook-a", cancel.Token);
        var b = await installation.StartWebhookReplicaAsync("webhook-b", cancel.Token);
        try
        {
            await using var service = new TransportFaults(a.Endpoint);
            service.RouteTo([a.Endpoint, b.Endpoint]);
            // As the API server calls it: the Service's DNS name, trusting only the configuration's caBundle.
            var clientConfig = installation.Chart.Single("MutatingWebhookConfiguration")["webhooks"]![0]!["clientConfig"]!;
            var roots = CaBundle.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(clientConfig["caBundle"]!.GetValue<string>())));
            using var http = new HttpClient(new SocketsHttpHandler
            {
                MaxConnectionsPerServer = 16,

                // Connections are renewed often, as many API server instances' would be in sum: new
                // connections keep reaching the Service while the endpoint change propagates.
                PooledConnectionLifetime = TimeSpan.FromMilliseconds(250),
                ConnectCallback = async (_, cancellationToken) =>
                {
                    var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, service.Port), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                },
                SslOptions =
                {
                    RemoteCertificateValidationCallback = CaBundle.Trusting(roots),
                },
            })
            { Timeout = TimeSpan.FromSeconds(5) };
            var url = new Uri($"https://{installation.WebhookServiceName}.{TorchFerryInstallation.ReleaseNamespace}.svc/mutate-pods?timeout=5s");

            using var stopLoad = new CancellationTokenSource();
            var load = GenerateAsync(http, url, stopLoad.Token);
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            var terminated = TorchFerryInstallation.TerminateAsync(a, TimeSpan.FromSeconds(30));
            if (propagateAfterARefusal)
            {
                await Poll.UntilAsync(() => service.BackendRefusals > 0, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(10), () => $"{a.Name} never refused a connection after SIGTERM");
            }

            await Task.Delay(EndpointPropagation);
            service.RouteTo([b.Endpoint]);
            await Task.Delay(TimeSpan.FromSeconds(2.5)); // the load goes on against the replica left
            await stopLoad.CancelAsync();
            var (answered, failures) = await load;
            var exitCode = await terminated;
            output.WriteLine($"{answered} answered, {failures.Count} failed, {service.BackendRefusals} connections refused; {a.Name} exited {exitCode}");
            foreach (var failure in failures.Distinct().Take(5))
            {
                output.WriteLine(failure);
            }

            return new Outcome(answered, failures, exitCode, installation.LogOf(a), service.BackendRefusals);
        }
        finally
        {
            await TorchFerryInstallation.TerminateAsync(b, TimeSpan.FromSeconds(1));
        }
    }

    // Reviews at a steady rate, each answered (200, allowed) or counted as a failure with its reason.
    private static async Task<(int Answered, List<string> Failures)> GenerateAsync(HttpClient http, Uri url, CancellationToken stop)
    {
        var body = PodAdmissionReview.Create("uid", FlytePod(), "flytesnacks-development").ToJsonString();
        var requests = new List<Task<string?>>();
        using var ticks = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        var clock = Stopwatch.StartNew();
        var sent = 0;
        while (!stop.IsCancellationRequested && await ticks.WaitForNextTickAsync(CancellationToken.None))
        {
            for (var due = (int)(clock.Elapsed.TotalSeconds * RequestsPerSecond); sent < due; sent++)
            {
                requests.Add(ReviewAsync(http, url, body));
            }
        }

        var results = await Task.WhenAll(requests);
        return (results.Count(r => r is null), [.. results.OfType<string>()]);
    }

    // A call the API server would see fail, whichever layer reports it (a connection reset while the
    // pool dials through the Service can surface as a bare SocketException).
    private static async Task<string?> ReviewAsync(HttpClient http, Uri url, string body)
    {
        try
        {
            using var content = new StringContent(body, Encoding.UTF8);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await http.PostAsync(url, content);
            var text = await response.Content.ReadAsStringAsync();
            return (int)response.StatusCode == 200 && JsonNode.Parse(text)?["response"]?["allowed"]?.GetValue<bool>() == true ? null : $"{(int)response.StatusCode}: {text}";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or SocketException)
        {
            return $"{e.GetType().Name}: {e.Message}";
        }
    }

    private static JsonObject FlytePod() => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "Pod",
        ["metadata"] = new JsonObject
        {
            ["name"] = "f1234-n0-0",
            ["namespace"] = "flytesnacks-development",
            ["labels"] = new JsonObject { ["interruptible"] = "false", ["node-id"] = "n0", ["task-name"] = "train", ["execution-id"] = "f1234", ["workflow-name"] = "wf", ["project"] = "flytesnacks", ["domain"] = "development" },
        },
        ["spec"] = new JsonObject
        {
            ["containers"] = new JsonArray(new JsonObject { ["name"] = "f1234-n0-0", ["image"] = "flytekit:py3.11", ["args"] = new JsonArray("pyflyte-execute", "--inputs", "s3://bucket/in/inputs.pb", "--output-prefix", "s3://bucket/out", "--raw-output-data-prefix", "s3://bucket/raw", "--resolver", "r", "--", "task-module", "m", "task-name", "train") }),
        },
    };

    private sealed record Outcome(int Answered, IReadOnlyList<string> Failures, int ExitCode, string TerminatedLog, int Refused);
}
