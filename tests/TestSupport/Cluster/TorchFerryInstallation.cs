using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport.Cluster;

/// <summary>
/// TorchFerry installed into the emulator as the Helm chart installs it into a cluster: the CRDs from
/// config/crd applied through the API, the chart's MutatingWebhookConfiguration (its selectors,
/// failurePolicy, timeout and caBundle) created, and the published webhook and operator binaries
/// started with the command, arguments and environment of the chart's Deployments. Only what ties a
/// pod to its node is mapped: listen addresses to free local ports, mounted files (TLS Secret,
/// allowed-prefixes ConfigMap) to local files, in-cluster credentials to a kubeconfig. The webhook
/// Service routes to the local webhook process.
/// </summary>
public sealed class TorchFerryInstallation : IAsyncDisposable
{
    public const string Release = "torchferry";
    public const string ReleaseNamespace = "torchferry-system";
    private readonly string folder;
    private readonly Timeline timeline;
    private readonly Uri apiServer;
    private readonly Kubernetes.KubeApiEmulator api;
    private Process? webhook;
    private Process? @operator;

    private TorchFerryInstallation(RenderedChart chart, string folder, Kubernetes.KubeApiEmulator api, Timeline timeline)
    {
        Chart = chart;
        this.folder = folder;
        this.api = api;
        apiServer = api.Endpoint;
        this.timeline = timeline;
    }

    public RenderedChart Chart { get; }

    /// <summary>The local address the webhook Service routes to.</summary>
    public Uri? WebhookEndpoint { get; private set; }

    public string WebhookLog => Read("webhook.log");

    public string OperatorLog => Read("operator.log");

    /// <summary>Renders the chart with <paramref name="values"/> (--set/--set-json arguments), applies the CRDs and the webhook configuration.</summary>
    public static async Task<TorchFerryInstallation> InstallAsync(Kubernetes.KubeApiEmulator api, string folder, Timeline timeline, IReadOnlyList<string> values, CancellationToken cancellationToken)
    {
        var chart = Helm.Template(Release, ReleaseNamespace, [.. values]);
        var installation = new TorchFerryInstallation(chart, folder, api, timeline);
        foreach (var crd in Kubernetes.TorchFerryCrds.All)
        {
            await installation.CreateAsync("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd, cancellationToken).ConfigureAwait(false);
        }

        await installation.CreateAsync("/api/v1/namespaces", new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Namespace", ["metadata"] = new JsonObject { ["name"] = ReleaseNamespace } }, cancellationToken).ConfigureAwait(false);
        await installation.CreateAsync("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", chart.Single("MutatingWebhookConfiguration"), cancellationToken).ConfigureAwait(false);
        timeline.Add("helm", $"installed chart {Release}: CRDs from config/crd, MutatingWebhookConfiguration (failurePolicy {chart.Single("MutatingWebhookConfiguration")["webhooks"]![0]!["failurePolicy"]})");
        return installation;
    }

    /// <summary>Creates an object through the API server, as kubectl create does; throws with the server's Status when refused.</summary>
    public async Task CreateAsync(string path, JsonObject obj, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = apiServer };
        using var response = await http.PostAsync(new Uri(path, UriKind.Relative), new StringContent(obj.ToJsonString(), Encoding.UTF8, "application/json"), cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST {path} ({obj["kind"]} {obj["metadata"]?["name"]}): {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)}");
        }
    }

    /// <summary>Starts the webhook from the chart's Deployment and routes its Service to it; returns when it serves.</summary>
    public async Task StartWebhookAsync(CancellationToken cancellationToken)
    {
        var replica = await StartWebhookReplicaAsync("webhook", cancellationToken).ConfigureAwait(false);
        webhook = replica.Process;
        WebhookEndpoint = replica.Endpoint;
        api.RouteService(ReleaseNamespace, WebhookServiceName, 443, WebhookEndpoint);
        timeline.Add("webhook", $"torchferry-webhook serving on {WebhookEndpoint} (Service {WebhookServiceName}.{ReleaseNamespace}.svc:443)");
    }

    /// <summary>The name of the webhook's Service.</summary>
    public string WebhookServiceName => Chart.OfKind("Service").Single(s => s["metadata"]!["labels"]?["app.kubernetes.io/component"]?.GetValue<string>() == "webhook")["metadata"]!["name"]!.GetValue<string>();

    /// <summary>
    /// Starts one more webhook replica from the chart's Deployment (its log is <c>{name}.log</c>), not
    /// routed anywhere; returns when it serves. The caller stops it (<see cref="TerminateAsync"/>).
    /// </summary>
    public async Task<Replica> StartWebhookReplicaAsync(string name, CancellationToken cancellationToken)
    {
        var secret = Chart.Single("Secret");
        await File.WriteAllTextAsync(Path.Combine(folder, "tls.crt"), RenderedChart.SecretText(secret, "tls.crt"), cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(Path.Combine(folder, "tls.key"), RenderedChart.SecretText(secret, "tls.key"), cancellationToken).ConfigureAwait(false);
        var process = Start("webhook", Chart.Deployment("webhook"), new Dictionary<string, string>
        {
            ["--listen"] = "127.0.0.1:0",
            ["--tls-cert-file"] = Path.Combine(folder, "tls.crt"),
            ["--tls-key-file"] = Path.Combine(folder, "tls.key"),
        }, new Dictionary<string, string>(), name);
        var endpoint = await BoundAddressAsync(process, name, "Endpoint", cancellationToken).ConfigureAwait(false);
        await WaitForAsync(process, name, new Uri(endpoint, "/readyz"), cancellationToken).ConfigureAwait(false);
        return new Replica(name, process, endpoint);
    }

    /// <summary>SIGTERM, as the kubelet sends it; the exit code once the process is gone (killed after <paramref name="grace"/>, as the kubelet would).</summary>
    public static async Task<int> TerminateAsync(Replica replica, TimeSpan grace)
    {
        ArgumentNullException.ThrowIfNull(replica);
        await StopAsync(replica.Process, grace).ConfigureAwait(false);
        return replica.Process.ExitCode;
    }

    /// <summary>The log a started replica wrote so far.</summary>
    public string LogOf(Replica replica) => Read((replica ?? throw new ArgumentNullException(nameof(replica))).Name + ".log");

    /// <summary>Starts the operator from the chart's Deployment with <paramref name="environment"/> added (what the storage Secret would give); returns when it is ready.</summary>
    public async Task StartOperatorAsync(IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken)
    {
        var configMap = Chart.Single("ConfigMap");
        var prefixes = Path.Combine(folder, "allowed-prefixes.json");
        await File.WriteAllTextAsync(prefixes, configMap["data"]!["allowed-prefixes.json"]!.GetValue<string>(), cancellationToken).ConfigureAwait(false);
        @operator = Start("operator", Chart.Deployment("operator"), new Dictionary<string, string>
        {
            ["--allowed-prefixes"] = prefixes,
            ["--http-address"] = "http://127.0.0.1:0",
        }, environment);
        var address = await BoundAddressAsync(@operator, "operator", "Address", cancellationToken).ConfigureAwait(false);
        await WaitForAsync(@operator, "operator", new Uri(address, "/readyz"), cancellationToken).ConfigureAwait(false);
        timeline.Add("operator", "torchferry-operator ready (leader)");
    }

    /// <summary>Stops the operator (SIGTERM, as Kubernetes does; killed after <paramref name="grace"/>); its exit code.</summary>
    public async Task<int> TerminateOperatorAsync(TimeSpan grace)
    {
        var process = @operator ?? throw new InvalidOperationException("the operator was not started");
        await StopAsync(process, grace).ConfigureAwait(false);
        return process.ExitCode;
    }

    /// <summary>Stops the webhook; its Service has no endpoints then.</summary>
    public async Task StopWebhookAsync()
    {
        // As Kubernetes does: the endpoint goes, then the pod is told to stop.
        api.RouteService(ReleaseNamespace, WebhookServiceName, 443, null);
        await StopAsync(webhook).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(@operator).ConfigureAwait(false);
        await StopAsync(webhook).ConfigureAwait(false);
        @operator?.Dispose();
        webhook?.Dispose();
    }

    private Process Start(string component, JsonObject deployment, IReadOnlyDictionary<string, string> local, IReadOnlyDictionary<string, string> environment, string? replica = null)
    {
        replica ??= component;
        var container = deployment["spec"]!["template"]!["spec"]!["containers"]![0]!;
        var command = container["command"]![0]!.GetValue<string>().Replace("/app/", PublishedImage.App + "/", StringComparison.Ordinal);
        if (!File.Exists(command))
        {
            throw new InvalidOperationException($"{command} is missing: run scripts/publish.sh artifacts/image/app");
        }

        var kubeconfig = Path.Combine(folder, $"{component}.kubeconfig");
        File.WriteAllText(kubeconfig, $"apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n    server: {apiServer}\nusers:\n- name: {component}\n  user:\n    token: system-serviceaccount-{ReleaseNamespace}-{Release}-{component}\ncontexts:\n- name: sandbox\n  context:\n    cluster: sandbox\n    user: {component}\ncurrent-context: sandbox\n");
        var args = container["args"]!.AsArray().Select(a => a!.GetValue<string>()).Select(a =>
        {
            var flag = a.Split('=', 2)[0];
            return local.TryGetValue(flag, out var value) ? $"{flag}={value}" : a;
        }).Append($"--kubeconfig={kubeconfig}").ToList();
        var start = new ProcessStartInfo(command, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["POD_NAMESPACE"] = ReleaseNamespace;
        start.Environment["POD_NAME"] = $"{Release}-{replica}-0";
        foreach (var variable in ((container["env"] as JsonArray) ?? []).OfType<JsonObject>().Where(v => v["value"] is not null))
        {
            start.Environment[variable["name"]!.GetValue<string>()] = variable["value"]!.GetValue<string>();
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {command}");
        var log = new StreamWriter(Path.Combine(folder, $"{replica}.log")) { AutoFlush = true };
        var gate = new Lock();
        var open = 2;

        // Each stream's reader ends with a null line, which can come after Exited: the log is closed
        // after the second end of stream, never on Exited, so no line is written to a closed writer
        // (on the reader's thread that would crash the test host) and none is lost.
        void Write(string? line)
        {
            lock (gate)
            {
                if (open == 0)
                {
                    return;
                }

                if (line is not null)
                {
                    log.WriteLine(line);
                }
                else if (--open == 0)
                {
                    log.Dispose();
                }
            }
        }

        process.OutputDataReceived += (_, e) => Write(e.Data);
        process.ErrorDataReceived += (_, e) => Write(e.Data);
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private async Task WaitForAsync(Process process, string component, Uri ready, CancellationToken cancellationToken)
    {
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                await Task.Delay(200, cancellationToken).ConfigureAwait(false);
                throw new InvalidOperationException($"torchferry-{component} exited with {process.ExitCode}:\n{Read(component + ".log")}");
            }

            try
            {
                using var response = await http.GetAsync(ready, cancellationToken).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }

        throw new TimeoutException($"torchferry-{component} was not ready at {ready} within 60 s:\n{Read(component + ".log")}");
    }

    private static Task StopAsync(Process? process) => StopAsync(process, TimeSpan.FromSeconds(10));

    private static async Task StopAsync(Process? process, TimeSpan grace)
    {
        if (process is null || process.HasExited)
        {
            return;
        }

        using (var term = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await term!.WaitForExitAsync().ConfigureAwait(false);
        }

        using var bounded = new CancellationTokenSource(grace);
        try
        {
            await process.WaitForExitAsync(bounded.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().ConfigureAwait(false);
        }
    }

    private string Read(string file)
    {
        var path = Path.Combine(folder, file);
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return new StreamReader(stream).ReadToEnd();
        }
        catch (FileNotFoundException)
        {
            return string.Empty;
        }
    }

    // Servers bind port 0 and say where they listen in their first log lines (compact JSON): no port is
    // probed and released for another process to take first.
    private async Task<Uri> BoundAddressAsync(Process process, string name, string property, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            foreach (var line in Read(name + ".log").Split('\n'))
            {
                if (line.StartsWith('{') && JsonNode.Parse(line)?[property]?.GetValue<string>() is { } bound && Uri.TryCreate(bound, UriKind.Absolute, out var address) && address.Port != 0)
                {
                    return address;
                }
            }

            if (process.HasExited)
            {
                await Task.Delay(200, cancellationToken).ConfigureAwait(false);
                throw new InvalidOperationException($"torchferry-{name} exited with {process.ExitCode}:\n{Read(name + ".log")}");
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }

        throw new TimeoutException($"torchferry-{name} did not say where it listens within 60 s:\n{Read(name + ".log")}");
    }

    /// <summary>A webhook replica started by <see cref="StartWebhookReplicaAsync"/>.</summary>
    public sealed record Replica(string Name, Process Process, Uri Endpoint);
}
