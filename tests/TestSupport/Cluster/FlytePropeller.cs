using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Amazon.S3;
using Amazon.S3.Model;

namespace TorchFerry.TestSupport.Cluster;

/// <summary>
/// A flytepropeller stand-in: runs a workflow's nodes in order, each as one task pod shaped exactly
/// as propeller shapes it (../shared/reference/flyte.md: labels, annotations including
/// primary_container_name, the container named after the pod, pyflyte-execute's arguments with ""
/// for an empty --prev-checkpoint, the FLYTE_INTERNAL_* environment, the flyteworkflow owner,
/// <c>affinity: {}</c>, restartPolicy Never, requests and limits). It writes each node's inputs.pb
/// with Flyte's own protobuf code, binding upstream outputs as propeller does, creates the pod through
/// the API server, waits for the primary container, and reads outputs.pb or error.pb. A pod whose
/// sidecar keeps running stays (deleted only with delete-resource-on-finalize).
/// </summary>
public sealed class FlytePropeller(Uri apiServer, AmazonS3Client s3, string bucket, LocalImages images, Timeline timeline)
{
    /// <summary>Variables propeller's default-env-vars give every task (the sandbox's object store).</summary>
    public IReadOnlyDictionary<string, string> DefaultEnvironment { get; init; } = new Dictionary<string, string>();

    /// <summary>Propeller's delete-resource-on-finalize (default false): delete a pod whose sidecars outlive the task.</summary>
    public bool DeleteResourceOnFinalize { get; init; }

    /// <summary>How long a node may take before the workflow fails.</summary>
    public TimeSpan NodeTimeout { get; init; } = TimeSpan.FromMinutes(3);

    public async Task<IReadOnlyList<NodeOutcome>> RunAsync(string project, string domain, string workflow, IReadOnlyList<WorkflowNode> nodes, CancellationToken cancellationToken)
    {
        using var api = new HttpClient { BaseAddress = apiServer };
        var execution = "a" + Guid.NewGuid().ToString("N")[..19];
        var @namespace = $"{project}-{domain}";
        var outcomes = new List<NodeOutcome>();
        var outputs = new Dictionary<string, JsonNode>(StringComparer.Ordinal);
        var ownerUid = await CreateWorkflowAsync(api, @namespace, execution, cancellationToken).ConfigureAwait(false);
        foreach (var node in nodes)
        {
            var metadata = $"s3://{bucket}/metadata/propeller/{project}-{domain}-{execution}/{node.Id}/data";
            var raw = $"s3://{bucket}/data/{execution[..2]}/{execution}-{node.Id}-0";
            var literals = new JsonObject();
            foreach (var (input, source) in node.Bindings)
            {
                var (from, output) = (source.Split('.')[0], source.Split('.')[1]);
                literals[input] = outputs[from]["literals"]![output]!.DeepClone();
            }

            foreach (var (input, value) in node.Integers)
            {
                literals[input] = new JsonObject { ["scalar"] = new JsonObject { ["primitive"] = new JsonObject { ["integer"] = value } } };
            }

            await PutAsync($"{metadata}/inputs.pb", FlyteIdl.Encode(new JsonObject { ["literals"] = literals }), cancellationToken).ConfigureAwait(false);

            // An ArrayNode map task: one pod per item, each given the whole inputs and its index, writing under <out>/<index>/<attempt>.
            var subtasks = node.MapSize is { } size ? Enumerable.Range(0, size).Select(i => (int?)i).ToList() : [null];
            var results = await Task.WhenAll(subtasks.Select(async index =>
            {
                var legacy = node.Shape == TaskShape.LegacyMap;
                var pod = Pod(project, domain, workflow, execution, ownerUid, node, $"{metadata}/inputs.pb", index is { } i && !legacy ? $"{metadata}/0/{i}/0" : $"{metadata}/0", raw, index);
                var name = pod["metadata"]!["name"]!.GetValue<string>();
                using (var created = await api.PostAsync(new Uri($"/api/v1/namespaces/{@namespace}/pods", UriKind.Relative), new StringContent(pod.ToJsonString(), Encoding.UTF8, "application/json"), cancellationToken).ConfigureAwait(false))
                {
                    if (!created.IsSuccessStatusCode)
                    {
                        var status = JsonNode.Parse(await created.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
                        var refused = $"the API server refused the pod ({(int)created.StatusCode}): {status?["message"]}";
                        timeline.Add("propeller", $"node {node.Id} ({node.Task}): {refused}");
                        return new NodeOutcome(node.Id, name, Primary(node, name), false, refused, null);
                    }
                }

                timeline.Add("propeller", $"node {node.Id} ({node.Task}): created pod {name}");
                var done = await AwaitAsync(api, @namespace, name, node, index is { } j ? (legacy ? $"{metadata}/0/{j}" : $"{metadata}/0/{j}/0") : $"{metadata}/0", cancellationToken).ConfigureAwait(false);
                timeline.Add("propeller", $"node {node.Id} ({node.Task}){(index is { } k ? $"[{k}]" : string.Empty)}: {(done.Succeeded ? "succeeded" : "failed: " + done.Error)}");
                return done;
            })).ConfigureAwait(false);
            outcomes.AddRange(results);
            if (!results.All(r => r.Succeeded))
            {
                return outcomes;
            }

            var outcome = results[0];
            outputs[node.Id] = outcome.Outputs!;
        }

        return outcomes;
    }

    /// <summary>The flyteworkflow objects (flyte.lyft.com/v1alpha1) of this cluster: flyteadmin creates one per execution, named after it.</summary>
    public const string WorkflowGroup = "flyte.lyft.com";
    public const string WorkflowVersion = "v1alpha1";
    public const string WorkflowPlural = "flyteworkflows";
    public const string WorkflowKind = "flyteworkflow";

    /// <summary>
    /// Deletes the flyteworkflow of <paramref name="execution"/>, as propeller's garbage collection
    /// does once a finished workflow passes its TTL; Kubernetes then collects what it owns.
    /// </summary>
    public async Task DeleteWorkflowAsync(string @namespace, string execution, CancellationToken cancellationToken)
    {
        using var api = new HttpClient { BaseAddress = apiServer };
        using var deleted = await api.DeleteAsync(new Uri($"/apis/{WorkflowGroup}/{WorkflowVersion}/namespaces/{@namespace}/{WorkflowPlural}/{execution}", UriKind.Relative), cancellationToken).ConfigureAwait(false);
        deleted.EnsureSuccessStatusCode();
    }

    // flyteadmin creates the execution's flyteworkflow before propeller makes any pod; pods and what
    // else hangs off the execution name it as their owner, so the garbage collector keeps them.
    private static async Task<string> CreateWorkflowAsync(HttpClient api, string @namespace, string execution, CancellationToken cancellationToken)
    {
        var workflow = new JsonObject
        {
            ["apiVersion"] = $"{WorkflowGroup}/{WorkflowVersion}",
            ["kind"] = WorkflowKind,
            ["metadata"] = new JsonObject { ["name"] = execution, ["namespace"] = @namespace },
        };
        using var created = await api.PostAsync(new Uri($"/apis/{WorkflowGroup}/{WorkflowVersion}/namespaces/{@namespace}/{WorkflowPlural}", UriKind.Relative), new StringContent(workflow.ToJsonString(), Encoding.UTF8, "application/json"), cancellationToken).ConfigureAwait(false);
        created.EnsureSuccessStatusCode();
        return JsonNode.Parse(await created.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false))!["metadata"]!["uid"]!.GetValue<string>();
    }

    private async Task<NodeOutcome> AwaitAsync(HttpClient api, string @namespace, string name, WorkflowNode node, string outputPrefix, CancellationToken cancellationToken)
    {
        var primary = Primary(node, name);
        var deadline = DateTime.UtcNow + NodeTimeout;
        string? failure = null;
        while (true)
        {
            if (DateTime.UtcNow > deadline)
            {
                return new NodeOutcome(node.Id, name, Primary(node, name), false, $"timed out after {NodeTimeout.TotalSeconds:0} s", null);
            }

            var pod = JsonNode.Parse(await api.GetStringAsync(new Uri($"/api/v1/namespaces/{@namespace}/pods/{name}", UriKind.Relative), cancellationToken).ConfigureAwait(false))!;
            var phase = pod["status"]?["phase"]?.GetValue<string>();
            var terminated = ((pod["status"]?["containerStatuses"] as JsonArray) ?? []).FirstOrDefault(s => s?["name"]?.GetValue<string>() == primary)?["state"]?["terminated"];
            if (phase is "Succeeded" or "Failed" || terminated is not null)
            {
                if (phase == "Failed" || terminated?["exitCode"]?.GetValue<int>() is > 0)
                {
                    failure = $"pod {phase?.ToLowerInvariant() ?? "failed"}{(pod["status"]?["reason"] is { } reason ? $" ({reason})" : string.Empty)}";
                }

                if (phase is not ("Succeeded" or "Failed") && DeleteResourceOnFinalize)
                {
                    // The primary container decided; the sidecar is stopped with the pod.
                    using var deleted = await api.DeleteAsync(new Uri($"/api/v1/namespaces/{@namespace}/pods/{name}", UriKind.Relative), cancellationToken).ConfigureAwait(false);
                }

                break;
            }

            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }

        if (await GetAsync($"{outputPrefix}/error.pb", cancellationToken).ConfigureAwait(false) is { } error)
        {
            var document = FlyteIdl.DecodeError(error);
            return new NodeOutcome(node.Id, name, Primary(node, name), false, $"{document["error"]?["code"]}: {document["error"]?["message"]}", null);
        }

        if (failure is not null)
        {
            return new NodeOutcome(node.Id, name, Primary(node, name), false, failure, null);
        }

        return await GetAsync($"{outputPrefix}/outputs.pb", cancellationToken).ConfigureAwait(false) is { } outputs
            ? new NodeOutcome(node.Id, name, Primary(node, name), true, null, FlyteIdl.Decode(outputs))
            : new NodeOutcome(node.Id, name, Primary(node, name), false, "the task wrote no outputs.pb", null);
    }

    private static string Primary(WorkflowNode node, string pod) => node.Shape == TaskShape.PodTemplateWithSidecar ? "primary" : pod;

    private JsonObject Pod(string project, string domain, string workflow, string execution, string ownerUid, WorkflowNode node, string inputs, string outputPrefix, string raw, int? index)
    {
        var name = index is { } item ? $"{execution}-{node.Id}-0-n{item}-0" : $"{execution}-{node.Id}-0";
        var taskName = $"workflows.sandbox.{node.Task}";
        var taskArgs = new JsonArray(
            node.Shape == TaskShape.LegacyMap ? "pyflyte-map-execute" : "pyflyte-execute", "--inputs", inputs, "--output-prefix", outputPrefix, "--raw-output-data-prefix", raw,
            "--checkpoint-path", raw + "/_flytecheckpoints", "--prev-checkpoint", string.Empty,
            "--resolver", "flytekit.core.python_auto_container.default_task_resolver", "--", "task-module", "workflows.sandbox", "task-name", node.Task);
        if (node.Shape == TaskShape.FastRegistered)
        {
            var words = new JsonArray("pyflyte-fast-execute", "--additional-distribution", $"s3://{bucket}/{project}/{domain}/fast/sandbox.tar.gz", "--dest-dir", "/root", "--");
            foreach (var word in taskArgs)
            {
                words.Add(word!.DeepClone());
            }

            taskArgs = words;
        }

        var env = new JsonArray();
        foreach (var (key, value) in new Dictionary<string, string>
        {
            ["FLYTE_INTERNAL_EXECUTION_WORKFLOW"] = $"{project}:{domain}:{workflow}",
            ["FLYTE_INTERNAL_EXECUTION_ID"] = execution,
            ["FLYTE_INTERNAL_EXECUTION_PROJECT"] = project,
            ["FLYTE_INTERNAL_EXECUTION_DOMAIN"] = domain,
            ["FLYTE_ATTEMPT_NUMBER"] = "0",
            ["FLYTE_INTERNAL_TASK_PROJECT"] = project,
            ["FLYTE_INTERNAL_TASK_DOMAIN"] = domain,
            ["FLYTE_INTERNAL_TASK_NAME"] = taskName,
            ["FLYTE_INTERNAL_TASK_VERSION"] = "v1",
            ["FLYTE_INTERNAL_PROJECT"] = project,
            ["FLYTE_INTERNAL_DOMAIN"] = domain,
            ["FLYTE_INTERNAL_NAME"] = taskName,
            ["FLYTE_INTERNAL_VERSION"] = "v1",
        }.Concat(DefaultEnvironment).Concat(index is { } subtask ? [KeyValuePair.Create(Flyte.MapTaskInputs.IndexVariable, subtask.ToString(CultureInfo.InvariantCulture)), KeyValuePair.Create("BATCH_JOB_ARRAY_INDEX_VAR_NAME", Flyte.MapTaskInputs.IndexVariable)] : []))
        {
            env.Add(new JsonObject { ["name"] = key, ["value"] = value });
        }

        var resources = new JsonObject
        {
            ["requests"] = new JsonObject { ["cpu"] = "500m", ["memory"] = "500Mi" },
            ["limits"] = new JsonObject { ["cpu"] = "500m", ["memory"] = "500Mi" },
        };
        var tolerations = new JsonArray();
        if (node.Gpus > 0)
        {
            resources["requests"]!["nvidia.com/gpu"] = node.Gpus.ToString(CultureInfo.InvariantCulture);
            resources["limits"]!["nvidia.com/gpu"] = node.Gpus.ToString(CultureInfo.InvariantCulture);
            tolerations.Add(new JsonObject { ["key"] = "nvidia.com/gpu", ["operator"] = "Exists", ["effect"] = "NoSchedule" });
        }

        var task = new JsonObject
        {
            ["name"] = Primary(node, name),
            ["image"] = $"{images.FlytekitRepository}:py3.11-1.16.0",
            ["args"] = taskArgs,
            ["env"] = env,
            ["resources"] = resources,
            ["terminationMessagePolicy"] = "FallbackToLogsOnError",
        };
        var containers = new JsonArray(task);
        if (node.Shape == TaskShape.PodTemplateWithSidecar)
        {
            containers.Add(new JsonObject
            {
                ["name"] = "metrics-sidecar",
                ["image"] = "busybox:1.36",
                ["command"] = new JsonArray("sleep", "3600"),
                ["resources"] = new JsonObject { ["limits"] = new JsonObject { ["cpu"] = "100m", ["memory"] = "64Mi" } },
            });
        }

        var annotations = new JsonObject
        {
            ["cluster-autoscaler.kubernetes.io/safe-to-evict"] = "false",
            ["primary_container_name"] = task["name"]!.GetValue<string>(),
        };
        foreach (var (key, value) in node.Annotations)
        {
            annotations[key] = value;
        }

        var spec = new JsonObject
        {
            ["restartPolicy"] = "Never",
            ["containers"] = containers,
            ["affinity"] = new JsonObject(),
        };
        if (tolerations.Count > 0)
        {
            spec["tolerations"] = tolerations;
        }

        if (node.Interruptible)
        {
            tolerations.Add(new JsonObject { ["key"] = "node-lifecycle", ["operator"] = "Equal", ["value"] = "spot", ["effect"] = "NoSchedule" });
            spec["tolerations"] = tolerations;
            spec["affinity"] = JsonNode.Parse("""{"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "node-lifecycle", "operator": "In", "values": ["spot"]}]}]}}}""");
        }

        if (node.PodRunsAsRoot)
        {
            spec["securityContext"] = new JsonObject { ["runAsUser"] = 0 };
        }

        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["labels"] = new JsonObject
                {
                    ["domain"] = domain,
                    ["execution-id"] = execution,
                    ["interruptible"] = node.Interruptible ? "true" : "false",
                    ["node-id"] = index is { } n ? $"n{n}" : node.Id,
                    ["project"] = project,
                    ["shard-key"] = "21",
                    ["task-name"] = taskName.Replace('.', '-'),
                    ["workflow-name"] = workflow.Replace('.', '-'),
                },
                ["annotations"] = annotations,
                ["ownerReferences"] = new JsonArray(new JsonObject
                {
                    ["apiVersion"] = $"{WorkflowGroup}/{WorkflowVersion}",
                    ["kind"] = WorkflowKind,
                    ["name"] = execution,
                    ["uid"] = ownerUid,
                    ["controller"] = true,
                    ["blockOwnerDeletion"] = true,
                }),
            },
            ["spec"] = spec,
        };
    }

    private async Task PutAsync(string uri, byte[] bytes, CancellationToken cancellationToken)
    {
        var (b, key) = Split(uri);
        using var stream = new MemoryStream(bytes);
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = b, Key = key, InputStream = stream, UseChunkEncoding = false }, cancellationToken).ConfigureAwait(false);
    }

    private async Task<byte[]?> GetAsync(string uri, CancellationToken cancellationToken)
    {
        var (b, key) = Split(uri);
        try
        {
            using var response = await s3.GetObjectAsync(b, key, cancellationToken).ConfigureAwait(false);
            using var copy = new MemoryStream();
            await response.ResponseStream.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
            return copy.ToArray();
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private static (string Bucket, string Key) Split(string uri)
    {
        var rest = uri["s3://".Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        return (rest[..slash], rest[(slash + 1)..]);
    }
}
