using System.Text.Json.Nodes;
using TorchFerry.TestSupport.Kubernetes;

namespace TorchFerry.TestSupport.Cluster;

/// <summary>
/// A Flyte cluster on this machine, no Docker needed: the API server emulator (defaulting, mutating
/// webhooks, quota, CRD validation), s3rver as the object store, TorchFerry installed from the chart
/// (the real webhook and operator binaries), one node's kubelet running task pods as local processes,
/// and a flytepropeller stand-in creating the pods. Everything that happens goes on the timeline.
/// </summary>
public sealed class ClusterInABox : IAsyncDisposable
{
    /// <summary>The image repository the chart is rendered with; the kubelet runs the published binaries for it.</summary>
    public const string TorchFerryImage = "registry.sandbox/torchferry";

    /// <summary>Flyte's default task image repository.</summary>
    public const string FlytekitImage = "cr.flyte.org/flyteorg/flytekit";

    private readonly TemporaryDirectory folder = new();
    private readonly CancellationTokenSource stop = new();
    private Task watching = Task.CompletedTask;

    private ClusterInABox(SandboxOptions options, Timeline timeline)
    {
        Options = options;
        Timeline = timeline;
        Images = new LocalImages(TorchFerryImage, FlytekitImage);
    }

    public SandboxOptions Options { get; }

    public Timeline Timeline { get; }

    public LocalImages Images { get; }

    public KubeApiEmulator Api { get; } = new();

    public S3Server S3 { get; private set; } = null!;

    public TorchFerryInstallation TorchFerry { get; private set; } = null!;

    public Kubelet Kubelet { get; private set; } = null!;

    public FlytePropeller Propeller { get; private set; } = null!;

    private FaultProxy? taskStore;

    /// <summary>What every Flyte task pod gets from propeller's default-env-vars: the sandbox's object store.</summary>
    public IReadOnlyDictionary<string, string> TaskEnvironment => new Dictionary<string, string>
    {
        ["FLYTE_AWS_ENDPOINT"] = (taskStore?.Endpoint ?? S3.Endpoint).ToString(),
        ["FLYTE_AWS_ACCESS_KEY_ID"] = S3Server.AccessKey,
        ["FLYTE_AWS_SECRET_ACCESS_KEY"] = S3Server.SecretKey,
    };

    public static async Task<ClusterInABox> StartAsync(SandboxOptions options, Timeline? timeline = null, CancellationToken cancellationToken = default)
    {
        var box = new ClusterInABox(options, timeline ?? new Timeline());
        try
        {
            await box.StartAsync(cancellationToken).ConfigureAwait(false);
            return box;
        }
        catch
        {
            await box.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Runs the two-task story: train (GPU profile) → <paramref name="predictTask"/> on the CPU
    /// (predict opens its inputs with a plain torch.load, predict_typed as flytekit's typed loaders do),
    /// its inputs opted in by annotation when <paramref name="annotatePredict"/>. <paramref name="trainTask"/>
    /// train_files returns FlyteFiles (formats "pt" and "") instead of flytekit's PyTorch types.
    /// </summary>
    public Task<IReadOnlyList<NodeOutcome>> RunTrainPredictAsync(string predictTask = "predict", TaskShape predictShape = TaskShape.Container, bool annotatePredict = true, bool predictRunsAsRoot = false, TaskShape trainShape = TaskShape.Container, bool trainInterruptible = false, int trainGpus = 0, string trainTask = "train", CancellationToken cancellationToken = default) =>
        Propeller.RunAsync(Options.Project, Options.Domain, "workflows.sandbox.train_predict", [
            new WorkflowNode("n0", trainTask) { Integers = new Dictionary<string, long> { ["seed"] = 7 }, Shape = trainShape, Interruptible = trainInterruptible, Gpus = trainGpus },
            new WorkflowNode("n1", predictTask)
            {
                Bindings = new Dictionary<string, string> { ["checkpoint"] = "n0.checkpoint", ["weights"] = "n0.weights" },
                Shape = predictShape,
                PodRunsAsRoot = predictRunsAsRoot,
                Annotations = annotatePredict ? new Dictionary<string, string> { [Contract.Annotations.InputsDevice] = "cpu" } : new Dictionary<string, string>(),
            },
        ], cancellationToken);

    /// <summary>The artifact of a kind registered for a blob URI, or null.</summary>
    public JsonObject? Artifact(string plural, string blobUri)
    {
        using var http = new HttpClient { BaseAddress = Api.Endpoint };
        var list = JsonNode.Parse(http.GetStringAsync(new Uri($"/apis/torchferry.io/v1alpha1/namespaces/{Options.Namespace}/{plural}", UriKind.Relative)).GetAwaiter().GetResult())!;
        return list["items"]!.AsArray().OfType<JsonObject>().FirstOrDefault(a => a["spec"]?["source"]?["uri"]?.GetValue<string>() == blobUri);
    }

    public async ValueTask DisposeAsync()
    {
        // Each piece is stopped even when one before it fails: no process outlives the sandbox.
        try
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await watching.ConfigureAwait(false);
        }
        finally
        {
            try
            {
                if (Kubelet is not null)
                {
                    await Kubelet.DisposeAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                try
                {
                    if (TorchFerry is not null)
                    {
                        await TorchFerry.DisposeAsync().ConfigureAwait(false);
                    }
                }
                finally
                {
                    if (taskStore is not null)
                    {
                        await taskStore.DisposeAsync().ConfigureAwait(false);
                    }

                    S3?.Dispose();
                    await Api.DisposeAsync().ConfigureAwait(false);
                    folder.Dispose();
                    stop.Dispose();
                }
            }
        }
    }

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        S3 = new S3Server();
        Timeline.Add("s3", $"s3rver serving s3://{S3Server.Bucket} at {S3.Endpoint}");
        if (Options.TasksMayNotWriteVariants)
        {
            taskStore = new FaultProxy(S3) { Fault = r => r.Method is "PUT" or "POST" && r.Path.Value?.Contains(".torchferry-", StringComparison.Ordinal) == true ? 403 : null };
            Timeline.Add("s3", $"task pods reach the store through {taskStore.Endpoint}, which refuses writes of variants (403)");
        }
        var values = new List<string>
        {
            "--set", $"image.repository={TorchFerryImage}",
            "--set", $"webhook.failurePolicy={Options.FailurePolicy}",
            "--set", $"prepareInputs.timeoutSeconds={Options.PrepareInputsTimeoutSeconds}",
            "--set", $"prepareInputs.operatorWaitSeconds={Options.PrepareInputsOperatorWaitSeconds}",
            "--set", $"storage.endpoint={S3.Endpoint.ToString().TrimEnd('/')}",
            "--set-json", $"allowedPrefixes={{\"{Options.Namespace}\":[\"s3://{S3Server.Bucket}/\"]}}",

            // One cluster per story: a short drain keeps teardown quick (the rollout tests use the chart's default).
            "--set", "webhook.shutdownDelaySeconds=1",
        };
        if (Options.VariantPrefix is { } variantPrefix)
        {
            values.AddRange(["--set", $"variants.prefix={variantPrefix}"]);
        }

        if (Options.InputsDeviceNamespaces.Count > 0)
        {
            values.AddRange(["--set-json", "webhook.inputsDevice=" + new JsonObject(Options.InputsDeviceNamespaces.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))).ToJsonString()]);
        }

        TorchFerry = await TorchFerryInstallation.InstallAsync(Api, folder.Path, Timeline, values, cancellationToken).ConfigureAwait(false);
        await TorchFerry.CreateAsync("/api/v1/namespaces", new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Namespace", ["metadata"] = new JsonObject { ["name"] = Options.Namespace } }, cancellationToken).ConfigureAwait(false);
        if (Options.ComputeQuota)
        {
            await TorchFerry.CreateAsync($"/api/v1/namespaces/{Options.Namespace}/resourcequotas", new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "ResourceQuota",
                ["metadata"] = new JsonObject { ["name"] = "project-quota", ["namespace"] = Options.Namespace },
                ["spec"] = new JsonObject { ["hard"] = new JsonObject { ["limits.cpu"] = "8", ["limits.memory"] = "16Gi" } },
            }, cancellationToken).ConfigureAwait(false);
            Timeline.Add("api", $"ResourceQuota project-quota in {Options.Namespace}: limits.cpu 8, limits.memory 16Gi");
        }

        if (Options.GpuProfileTask is { } gpuTask)
        {
            await TorchFerry.CreateAsync($"/apis/torchferry.io/v1alpha1/namespaces/{Options.Namespace}/deviceprofiles", new JsonObject
            {
                ["apiVersion"] = "torchferry.io/v1alpha1",
                ["kind"] = "DeviceProfile",
                ["metadata"] = new JsonObject { ["name"] = $"{gpuTask}-gpu", ["namespace"] = Options.Namespace },
                ["spec"] = new JsonObject
                {
                    ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["task-name"] = $"workflows-sandbox-{gpuTask}" } },
                    ["device"] = Device(),
                },
            }, cancellationToken).ConfigureAwait(false);
            Timeline.Add("api", $"DeviceProfile {gpuTask}-gpu: task {gpuTask} gets one nvidia.com/gpu");
        }

        if (Options.Webhook)
        {
            await TorchFerry.StartWebhookAsync(cancellationToken).ConfigureAwait(false);
        }

        if (Options.Operator)
        {
            await TorchFerry.StartOperatorAsync(new Dictionary<string, string>
            {
                // What storage.credentials.existingSecret would put in the operator's environment.
                ["AWS_ACCESS_KEY_ID"] = S3Server.AccessKey,
                ["AWS_SECRET_ACCESS_KEY"] = S3Server.SecretKey,
                ["AWS_REGION"] = "us-east-1",
            }, cancellationToken).ConfigureAwait(false);
        }

        Kubelet = new Kubelet(Api.Endpoint, Images, folder.Path, Timeline, Options.Gpus)
        {
            NodeLabels = new Dictionary<string, string>(Options.NodeLabels) { ["kubernetes.io/hostname"] = "sandbox" },
            NodeTaints = Options.NodeTaints,
        };
        Api.Register(FlytePropeller.WorkflowGroup, FlytePropeller.WorkflowVersion, FlytePropeller.WorkflowPlural, FlytePropeller.WorkflowKind, statusSubresource: false);
        Propeller = new FlytePropeller(Api.Endpoint, S3Server.CreateClient(S3.Endpoint), S3Server.Bucket, Images, Timeline) { DefaultEnvironment = TaskEnvironment, NodeTimeout = Options.NodeTimeout };
        watching = Task.Run(() => WatchAsync(stop.Token), CancellationToken.None);
    }

    private JsonObject Device()
    {
        var device = new JsonObject { ["type"] = "gpu", ["count"] = 1 };
        if (Options.GpuProduct is { } product)
        {
            device["gpuProduct"] = product;
        }

        if (Options.MigProfile is { } mig)
        {
            device["migProfile"] = mig;
        }

        return device;
    }

    // Puts admissions and artifact changes on the timeline as they happen.
    private async Task WatchAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = Api.Endpoint };
        var admissions = 0;
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        while (!cancellationToken.IsCancellationRequested)
        {
            foreach (var record in Api.Admissions.Skip(admissions))
            {
                admissions++;
                var what = record.Patch is { } patch ? Describe(patch) : string.Empty;
                Timeline.Add("admission", $"pod {record.Name}: webhook {record.Webhook} {record.Outcome}{what}");
            }

            foreach (var plural in new[] { "checkpointartifacts", "tensorartifacts" })
            {
                try
                {
                    var list = JsonNode.Parse(await http.GetStringAsync(new Uri($"/apis/torchferry.io/v1alpha1/{plural}", UriKind.Relative), cancellationToken).ConfigureAwait(false))!;
                    foreach (var artifact in list["items"]!.AsArray().OfType<JsonObject>())
                    {
                        var name = artifact["metadata"]!["name"]!.GetValue<string>();
                        var targets = string.Join(",", ((artifact["spec"]?["targetDevices"] as JsonArray) ?? []).Select(d => d!.GetValue<string>()));
                        var variants = string.Join(",", ((artifact["status"]?["variants"] as JsonArray) ?? []).Select(v => $"{v?["device"]}"));
                        var state = $"targets [{targets}], phase {artifact["status"]?["phase"] ?? "-"}, variants [{variants}]";
                        if (!seen.TryGetValue(name, out var before) || before != state)
                        {
                            seen[name] = state;
                            Timeline.Add("operator", $"{artifact["kind"]} {name}: {state}");
                        }
                    }
                }
                catch (HttpRequestException)
                {
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
            }

            try
            {
                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static string Describe(JsonArray patch)
    {
        var parts = new List<string>();
        foreach (var op in patch.OfType<JsonObject>())
        {
            var path = op["path"]!.GetValue<string>();
            if (path.Contains("/resources", StringComparison.Ordinal))
            {
                parts.Add("GPU resources");
            }
            else if (path.StartsWith("/spec/initContainers", StringComparison.Ordinal))
            {
                parts.Add("init container " + (op["value"] is JsonArray a ? a[0]?["name"] : op["value"]?["name"]));
            }
            else if (path.Contains("/args/", StringComparison.Ordinal))
            {
                parts.Add($"--inputs → {op["value"]}");
            }
            else if (path.StartsWith("/metadata/annotations", StringComparison.Ordinal))
            {
                parts.Add("annotations");
            }
            else if (path.StartsWith("/spec/tolerations", StringComparison.Ordinal))
            {
                parts.Add("tolerations");
            }
        }

        return parts.Count == 0 ? string.Empty : ": " + string.Join("; ", parts.Distinct());
    }
}
