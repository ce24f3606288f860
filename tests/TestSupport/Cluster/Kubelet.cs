using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport.Cluster;

/// <summary>
/// One node's kubelet for the API server emulator. It takes each new pod the node can hold (GPUs
/// counted: a pod asking for more <c>nvidia.com/gpu</c> than the node has stays Pending,
/// Unschedulable), runs its init containers one after another and then its containers as local
/// processes (<see cref="LocalImages"/>), with the container's env (values and fieldRefs), args, and
/// mount paths mapped to per-pod folders, and reports phase and container statuses through the API's
/// status subresource as a kubelet does. A container given a GPU sees it through
/// NVIDIA_VISIBLE_DEVICES, as the device plugin arranges. A deleted pod's processes are stopped.
/// restartPolicy Never: a failed init container fails the pod.
/// </summary>
public sealed class Kubelet : IAsyncDisposable
{
    private readonly HttpClient api;
    private readonly LocalImages images;
    private readonly string root;
    private readonly Timeline timeline;
    private readonly IReadOnlyDictionary<string, string> environment;
    private readonly CancellationTokenSource stop = new();
    private readonly ConcurrentDictionary<string, PodRun> runs = new(StringComparer.Ordinal);
    private readonly Task loop;

    /// <param name="apiServer">The emulator's endpoint.</param>
    /// <param name="images">What each image runs.</param>
    /// <param name="root">Where pod folders and container logs go.</param>
    /// <param name="timeline">Where container starts and exits are recorded.</param>
    /// <param name="gpus">GPUs the node has.</param>
    /// <param name="environment">Variables every process gets besides the container's (PATH and the like, as an image sets them).</param>
    public Kubelet(Uri apiServer, LocalImages images, string root, Timeline timeline, int gpus, IReadOnlyDictionary<string, string>? environment = null)
    {
        api = new HttpClient { BaseAddress = apiServer };
        this.images = images;
        this.root = root;
        this.timeline = timeline;
        Gpus = gpus;
        this.environment = environment ?? new Dictionary<string, string>
        {
            ["PATH"] = Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
            ["HOME"] = Environment.GetEnvironmentVariable("HOME") ?? "/root",
            ["DOTNET_ROOT"] = Environment.GetEnvironmentVariable("DOTNET_ROOT") ?? string.Empty,
        };
        loop = Task.Run(() => SyncLoopAsync(stop.Token));
    }

    public int Gpus { get; }

    /// <summary>The node's labels, for node selectors and required node affinity.</summary>
    public IReadOnlyDictionary<string, string> NodeLabels { get; init; } = new Dictionary<string, string> { ["kubernetes.io/hostname"] = "sandbox" };

    /// <summary>The node's NoSchedule taints (key, value); a pod must tolerate each.</summary>
    public IReadOnlyList<(string Key, string? Value)> NodeTaints { get; init; } = [];

    /// <summary>What a container wrote to stdout and stderr so far (kubectl logs).</summary>
    public string Logs(string @namespace, string pod, string container)
    {
        var file = LogFile(@namespace, pod, container);
        return File.Exists(file) ? File.ReadAllText(file) : string.Empty;
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        await loop.ConfigureAwait(false);
        foreach (var run in runs.Values)
        {
            await run.StopAsync().ConfigureAwait(false);
        }

        api.Dispose();
        stop.Dispose();
    }

    private string LogFile(string @namespace, string pod, string container) => Path.Combine(root, "logs", $"{@namespace}_{pod}_{container}.log");

    private async Task SyncLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var list = JsonNode.Parse(await api.GetStringAsync(new Uri("/api/v1/pods", UriKind.Relative), cancellationToken).ConfigureAwait(false))!;
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var pod in list["items"]!.AsArray().OfType<JsonObject>())
                {
                    var key = $"{pod["metadata"]!["namespace"]}/{pod["metadata"]!["name"]}";
                    seen.Add(key);
                    if (pod["metadata"]!["deletionTimestamp"] is not null && runs.TryGetValue(key, out var deleted))
                    {
                        await deleted.StopAsync().ConfigureAwait(false);
                    }
                    else if (!runs.ContainsKey(key) && pod["status"]?["phase"]?.GetValue<string>() is null or "Pending" && Unschedulable(pod) is null)
                    {
                        var run = new PodRun(this, pod);
                        runs[key] = run;
                        run.Start(cancellationToken);
                    }
                    else if (!runs.ContainsKey(key) && pod["status"]?["conditions"] is null && Unschedulable(pod) is { } why)
                    {
                        timeline.Add("scheduler", $"pod {pod["metadata"]!["name"]}: 0/1 nodes are available: {why}");
                        await ReportAsync(pod, new JsonObject
                        {
                            ["phase"] = "Pending",
                            ["conditions"] = new JsonArray(new JsonObject { ["type"] = "PodScheduled", ["status"] = "False", ["reason"] = "Unschedulable", ["message"] = $"0/1 nodes are available: {why}" }),
                        }, cancellationToken).ConfigureAwait(false);
                    }
                }

                foreach (var gone in runs.Keys.Where(k => !seen.Contains(k)).ToList())
                {
                    await runs[gone].StopAsync().ConfigureAwait(false);
                }

                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(200, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    // Why the scheduler would not bind the pod to this node, or null: GPUs free, node selector and
    // required node affinity (one term's expressions all hold; terms are ORed), NoSchedule taints tolerated.
    private string? Unschedulable(JsonObject pod)
    {
        var spec = pod["spec"]!;
        var used = runs.Values.Where(r => !r.Finished).Sum(r => GpuRequest(r.Pod));
        if (used + GpuRequest(pod) > Gpus)
        {
            return "1 Insufficient nvidia.com/gpu.";
        }

        // The node advertises whole GPUs only: any other extended resource (a MIG slice) has no capacity here.
        if (ExtendedResources(pod).FirstOrDefault(r => r != "nvidia.com/gpu") is { } missing)
        {
            return $"1 Insufficient {missing}.";
        }

        var selector = (spec["nodeSelector"] as JsonObject) ?? [];
        var terms = (spec["affinity"]?["nodeAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"]?["nodeSelectorTerms"] as JsonArray) ?? [];
        if (selector.Any(kv => !NodeLabels.TryGetValue(kv.Key, out var v) || v != kv.Value?.GetValue<string>())
            || (terms.Count > 0 && !terms.Any(t => (t?["matchExpressions"] as JsonArray ?? []).All(e => Kubernetes.Admission.LabelSelector.Holds(e!.AsObject(), NodeLabels) ?? false))))
        {
            return "1 node(s) didn't match Pod's node affinity/selector.";
        }

        var tolerations = ((spec["tolerations"] as JsonArray) ?? []).OfType<JsonObject>().ToList();
        foreach (var (key, value) in NodeTaints)
        {
            if (!tolerations.Any(t => t["key"]?.GetValue<string>() == key
                && (t["operator"]?.GetValue<string>() == "Exists" || t["value"]?.GetValue<string>() == value)
                && t["effect"]?.GetValue<string>() is null or "NoSchedule"))
            {
                return $"1 node(s) had untolerated taint {{{key}: {value}}}.";
            }
        }

        return null;
    }

    private static IEnumerable<string> ExtendedResources(JsonObject pod) =>
        ((pod["spec"]?["containers"] as JsonArray) ?? []).Concat((pod["spec"]?["initContainers"] as JsonArray) ?? [])
            .SelectMany(c => ((c?["resources"]?["limits"] as JsonObject) ?? []).Select(kv => kv.Key))
            .Where(r => r.Contains('/', StringComparison.Ordinal) && !r.StartsWith("hugepages-", StringComparison.Ordinal));

    private static int GpuRequest(JsonObject pod) =>
        ((pod["spec"]?["containers"] as JsonArray) ?? []).Sum(c => int.TryParse(c?["resources"]?["limits"]?["nvidia.com/gpu"]?.ToString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0);

    private async Task ReportAsync(JsonObject pod, JsonObject status, CancellationToken cancellationToken)
    {
        var path = $"/api/v1/namespaces/{pod["metadata"]!["namespace"]}/pods/{pod["metadata"]!["name"]}/status";
        using var content = new StringContent(new JsonObject { ["status"] = status.DeepClone() }.ToJsonString(), Encoding.UTF8, "application/merge-patch+json");
        using var response = await api.PatchAsync(new Uri(path, UriKind.Relative), content, cancellationToken).ConfigureAwait(false);

        // A pod deleted meanwhile has nobody to report to.
        if (!response.IsSuccessStatusCode && response.StatusCode != System.Net.HttpStatusCode.NotFound)
        {
            throw new HttpRequestException($"status update of {path} failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)}");
        }
    }

    /// <summary>One pod on the node: its processes, one at a time for init containers, then together.</summary>
    private sealed class PodRun(Kubelet kubelet, JsonObject pod)
    {
        private readonly CancellationTokenSource killed = new();
        private readonly ConcurrentDictionary<string, Process> processes = new(StringComparer.Ordinal);
        private readonly JsonObject status = new() { ["phase"] = "Pending" };
        private readonly SemaphoreSlim reporting = new(1, 1);
        private Task running = Task.CompletedTask;

        public JsonObject Pod { get; } = pod;

        public bool Finished { get; private set; }

        private string Namespace => Pod["metadata"]!["namespace"]!.GetValue<string>();

        private string Name => Pod["metadata"]!["name"]!.GetValue<string>();

        public void Start(CancellationToken cancellationToken) => running = Task.Run(() => RunAsync(cancellationToken), CancellationToken.None);

        public async Task StopAsync()
        {
            await killed.CancelAsync().ConfigureAwait(false);
            foreach (var process in processes.Values)
            {
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                }
            }

            await running.ConfigureAwait(false);
        }

        private async Task RunAsync(CancellationToken cancellationToken)
        {
            using var both = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, killed.Token);
            var token = both.Token;
            try
            {
                var spec = Pod["spec"]!.AsObject();
                var inits = ((spec["initContainers"] as JsonArray) ?? []).OfType<JsonObject>().ToList();
                var containers = ((spec["containers"] as JsonArray) ?? []).OfType<JsonObject>().ToList();
                status["startTime"] = Now();
                status["hostIP"] = "127.0.0.1";
                status["podIP"] = "127.0.0.1";
                status["conditions"] = new JsonArray(new JsonObject { ["type"] = "PodScheduled", ["status"] = "True" });
                status["initContainerStatuses"] = new JsonArray([.. inits.Select(c => (JsonNode?)Waiting(c, "PodInitializing"))]);
                status["containerStatuses"] = new JsonArray([.. containers.Select(c => (JsonNode?)Waiting(c, "PodInitializing"))]);
                await kubelet.ReportAsync(Pod, status, token).ConfigureAwait(false);
                for (var i = 0; i < inits.Count; i++)
                {
                    var code = await RunContainerAsync(inits[i], "initContainerStatuses", i, token).ConfigureAwait(false);
                    if (code != 0)
                    {
                        status["phase"] = "Failed";
                        status["reason"] = "Init:Error";
                        await kubelet.ReportAsync(Pod, status, token).ConfigureAwait(false);
                        return;
                    }
                }

                await UpdateAsync(s => s["phase"] = "Running", token).ConfigureAwait(false);
                var codes = await Task.WhenAll(containers.Select((c, i) => RunContainerAsync(c, "containerStatuses", i, token))).ConfigureAwait(false);
                await UpdateAsync(s => s["phase"] = codes.All(c => c == 0) ? "Succeeded" : "Failed", token).ConfigureAwait(false);
                kubelet.timeline.Add("kubelet", $"pod {Name}: {status["phase"]}");
            }
            catch (OperationCanceledException)
            {
            }
#pragma warning disable CA1031 // the node reports its own failure instead of dying quietly
            catch (Exception e)
#pragma warning restore CA1031
            {
                kubelet.timeline.Add("kubelet", $"pod {Name}: the kubelet failed: {e.GetType().Name}: {e.Message}");
            }
            finally
            {
                Finished = true;
            }
        }

        private async Task<int> RunContainerAsync(JsonObject container, string statuses, int index, CancellationToken cancellationToken)
        {
            var name = container["name"]!.GetValue<string>();
            var resolved = kubelet.images.Resolve(
                container["image"]!.GetValue<string>(),
                Words(container["command"]),
                Words(container["args"]).Select(MapPath).ToList());
            if (resolved is not { } program)
            {
                await UpdateAsync(s => s[statuses]![index] = Waiting(container, "ErrImagePull"), cancellationToken).ConfigureAwait(false);
                kubelet.timeline.Add("kubelet", $"pod {Name}: {name}: image {container["image"]} cannot be pulled");
                await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                return -1;
            }

            if (RefusedAsRoot(container) is { } refusal)
            {
                // The kubelet keeps retrying; the pod never gets further.
                await UpdateAsync(s => s[statuses]![index] = Waiting(container, "CreateContainerConfigError"), cancellationToken).ConfigureAwait(false);
                kubelet.timeline.Add("kubelet", $"pod {Name}: {name}: CreateContainerConfigError: {refusal}");
                await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                return -1;
            }

            var start = new ProcessStartInfo(program.File, program.Args)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = Directory.CreateDirectory(Path.Combine(kubelet.root, "pods", Namespace, Name, "containers", name)).FullName,
            };
            start.Environment.Clear();
            foreach (var (key, value) in kubelet.environment.Where(kv => kv.Value.Length > 0))
            {
                start.Environment[key] = value;
            }

            start.Environment["TMPDIR"] = Directory.CreateDirectory(Path.Combine(start.WorkingDirectory, "tmp")).FullName;
            start.Environment["HOSTNAME"] = Name;
            foreach (var variable in ((container["env"] as JsonArray) ?? []).OfType<JsonObject>())
            {
                start.Environment[variable["name"]!.GetValue<string>()] = variable["value"]?.GetValue<string>() ?? FieldRef(variable["valueFrom"]?["fieldRef"]?["fieldPath"]?.GetValue<string>());
            }

            if (int.TryParse(container["resources"]?["limits"]?["nvidia.com/gpu"]?.ToString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var gpus) && gpus > 0)
            {
                // The NVIDIA device plugin's answer to an allocation.
                start.Environment["NVIDIA_VISIBLE_DEVICES"] = string.Join(",", Enumerable.Range(0, gpus));
            }

            var logFile = kubelet.LogFile(Namespace, Name, name);
            Directory.CreateDirectory(Path.GetDirectoryName(logFile)!);
            await using var log = new StreamWriter(logFile, append: false) { AutoFlush = true };
            using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program.File}");
            processes[name] = process;
            var started = Now();
            await UpdateAsync(
                s => s[statuses]![index] = new JsonObject
                {
                    ["name"] = name,
                    ["image"] = container["image"]!.DeepClone(),
                    ["ready"] = statuses == "containerStatuses",
                    ["started"] = true,
                    ["restartCount"] = 0,
                    ["state"] = new JsonObject { ["running"] = new JsonObject { ["startedAt"] = started } },
                },
                cancellationToken).ConfigureAwait(false);
            kubelet.timeline.Add("kubelet", $"pod {Name}: {(statuses == "containerStatuses" ? "container" : "init container")} {name} started");
            var gate = new Lock();
            async Task Pump(StreamReader reader)
            {
                while (await reader.ReadLineAsync(CancellationToken.None).ConfigureAwait(false) is { } line)
                {
                    lock (gate)
                    {
                        log.WriteLine(line);
                    }
                }
            }

            var pumps = Task.WhenAll(Pump(process.StandardOutput), Pump(process.StandardError));
            try
            {
                await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                await pumps.ConfigureAwait(false);
                throw;
            }

            await pumps.ConfigureAwait(false);
            var code = process.ExitCode;
            await UpdateAsync(
                s =>
                {
                    s[statuses]![index]!["ready"] = false;
                    s[statuses]![index]!["state"] = new JsonObject
                    {
                        ["terminated"] = new JsonObject { ["exitCode"] = code, ["reason"] = code == 0 ? "Completed" : "Error", ["startedAt"] = started, ["finishedAt"] = Now() },
                    };
                },
                cancellationToken).ConfigureAwait(false);
            var last = kubelet.Logs(Namespace, Name, name).Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? string.Empty;
            kubelet.timeline.Add("kubelet", $"pod {Name}: {(statuses == "containerStatuses" ? "container" : "init container")} {name} exited {code}{(last.Length > 0 ? ": " + last : string.Empty)}");
            return code;
        }

        // Containers run together: one status, changed and sent by one of them at a time.
        private async Task UpdateAsync(Action<JsonObject> change, CancellationToken cancellationToken)
        {
            await reporting.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                change(status);
                await kubelet.ReportAsync(Pod, status, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                reporting.Release();
            }
        }

        // runAsNonRoot with an effective user of 0 (container, else pod, else the image's USER) is refused.
        private string? RefusedAsRoot(JsonObject container)
        {
            var pod = Pod["spec"]!["securityContext"];
            var own = container["securityContext"];
            var nonRoot = own?["runAsNonRoot"]?.GetValue<bool>() ?? pod?["runAsNonRoot"]?.GetValue<bool>() ?? false;
            var user = own?["runAsUser"]?.GetValue<long>() ?? pod?["runAsUser"]?.GetValue<long>() ?? kubelet.images.UserOf(container["image"]!.GetValue<string>());
            return nonRoot && user == 0 ? "container has runAsNonRoot and image will run as root" : null;
        }

        private string FieldRef(string? path) => path switch
        {
            "metadata.name" => Name,
            "metadata.namespace" => Namespace,
            "metadata.uid" => Pod["metadata"]!["uid"]!.GetValue<string>(),
            "status.podIP" or "status.hostIP" => "127.0.0.1",
            "spec.nodeName" => "sandbox",
            _ => string.Empty,
        };

        // An argument naming a path under a mount is mapped to the volume's local folder.
        private string MapPath(string word)
        {
            foreach (var mount in ((Pod["spec"]!["containers"] as JsonArray) ?? []).Concat((Pod["spec"]!["initContainers"] as JsonArray) ?? [])
                .SelectMany(c => (c?["volumeMounts"] as JsonArray) ?? []).OfType<JsonObject>())
            {
                var path = mount["mountPath"]!.GetValue<string>().TrimEnd('/');
                if (path.Length > 1 && (word == path || word.StartsWith(path + "/", StringComparison.Ordinal)))
                {
                    var local = Directory.CreateDirectory(Path.Combine(kubelet.root, "pods", Namespace, Name, "volumes", mount["name"]!.GetValue<string>())).FullName;
                    return local + word[path.Length..];
                }
            }

            return word;
        }

        private static JsonObject Waiting(JsonObject container, string reason) => new()
        {
            ["name"] = container["name"]!.DeepClone(),
            ["image"] = container["image"]?.DeepClone(),
            ["ready"] = false,
            ["restartCount"] = 0,
            ["state"] = new JsonObject { ["waiting"] = new JsonObject { ["reason"] = reason } },
        };

        private static List<string> Words(JsonNode? list) => ((list as JsonArray) ?? []).Select(w => w?.GetValue<string>() ?? string.Empty).ToList();

        private static string Now() => DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
    }
}
