using System.Globalization;
using System.Text.Json.Nodes;
using TorchFerry.Contract;
using TorchFerry.Crds;
using TorchFerry.Flyte;

namespace TorchFerry.Webhook.Mutation;

/// <summary>
/// Computes the JSON patch for a Flyte task pod: GPU resources, tolerations, node affinity and
/// shared memory from its DeviceProfile; for pods that opted in, inputs rewritten to a derived URI
/// prepared by the prepare-inputs init container. Settings already on the pod are kept (a conflict is
/// recorded); a status annotation makes a second pass (reinvocation) change nothing.
/// The inputs device comes from the pod's annotation, else its profile, else the namespace's
/// default; a value that is not a device is refused (no inputs step) and reported, never passed
/// to an init container that would fail the task.
/// </summary>
internal static class PodMutator
{
    public const string InitContainerName = "torchferry-prepare-inputs";
    private const string SharedMemoryVolume = "torchferry-dshm";
    private static readonly string[] ResourceKinds = ["limits", "requests"];

    // The image's USER (Dockerfile: the chiseled ASP.NET image's non-root app user).
    private const int InitRunAsUser = 1654;

    /// <param name="pod">The pod as the API server sent it.</param>
    /// <param name="profile">The DeviceProfile that selects it, if any.</param>
    /// <param name="options">What to inject with.</param>
    /// <param name="namespaceInputsDevice">The namespace's default inputs device, if any (already validated).</param>
    public static PodMutation Mutate(JsonObject pod, DeviceProfile? profile, MutationOptions options, TorchDevice? namespaceInputsDevice = null)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(options);
        var annotations = pod["metadata"]?["annotations"] as JsonObject;
        if (annotations?[Annotations.Inject]?.GetValue<string>() == "false" || annotations?[Annotations.Status] is not null)
        {
            return PodMutation.None;
        }

        if (pod["spec"]?["containers"] is not JsonArray containers || Primary(containers, annotations) is not { } primary)
        {
            return PodMutation.None;
        }

        var patch = new JsonArray();
        var applied = new List<string>();
        var conflicts = new List<string>();
        var containerPath = $"/spec/containers/{primary}";
        var container = containers[primary]!.AsObject();
        if (profile?.Spec.Device.Type == DeviceType.Gpu)
        {
            Gpu(pod, container, containerPath, profile.Spec, options.Gpu, patch, conflicts);
            applied.Add("gpu");
        }

        if (profile?.Spec.SharedMemorySize is { } size && SharedMemory(pod, container, containerPath, size, patch, conflicts))
        {
            applied.Add("dshm");
        }

        var (wanted, source) = annotations?[Annotations.InputsDevice] is { } annotated ? (annotated.ToString(), "annotation " + Annotations.InputsDevice)
            : profile?.Spec.InputsDevice is { } profiled ? (profiled, $"DeviceProfile {profile.Metadata.Name} inputsDevice")
            : (namespaceInputsDevice?.Name, "namespace default");
        string? refused = null;
        TorchDevice? inputsDevice = null;
        string? inputsSource = null;
        if (wanted is not null)
        {
            if (!TorchDevice.TryParse(wanted, out var parsed))
            {
                refused = TorchDevice.Problem(wanted, source);
            }
            else if (Inputs(pod, container, containerPath, parsed, options, patch) is { } original)
            {
                inputsDevice = parsed;
                inputsSource = original;
                applied.Add("inputs");
            }
        }

        if (applied.Count == 0)
        {
            return PodMutation.None with { RefusedInputsDevice = refused };
        }

        var status = new Dictionary<string, string> { [Annotations.Status] = "injected:" + string.Join(",", applied) };
        if (conflicts.Count > 0)
        {
            status[Annotations.Conflicts] = string.Join(",", conflicts);
        }

        if (inputsDevice is { } target)
        {
            status[Annotations.TargetDevice] = target.Name;
            status[Annotations.InputsSource] = inputsSource!;
        }

        if (annotations is null)
        {
            patch.Add(Op("add", "/metadata/annotations", new JsonObject(status.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)))));
        }
        else
        {
            foreach (var (key, value) in status)
            {
                patch.Add(Op(annotations.ContainsKey(key) ? "replace" : "add", "/metadata/annotations/" + Escape(key), value));
            }
        }

        return new PodMutation(patch, applied, conflicts) { RefusedInputsDevice = refused };
    }

    private static int? Primary(JsonArray containers, JsonObject? annotations)
    {
        var named = annotations?[Annotations.PrimaryContainer]?.GetValue<string>() ?? annotations?[FlyteLabels.PrimaryContainerAnnotation]?.GetValue<string>();
        for (var i = 0; i < containers.Count; i++)
        {
            var c = containers[i]!.AsObject();
            if (named is not null ? c["name"]?.GetValue<string>() == named : Words(c).Any(FlyteTaskArgs.IsEntrypoint))
            {
                return i;
            }
        }

        // Pod-template tasks name their primary container "primary" (flytekit's default).
        return named is null ? containers.Select((c, i) => (c, i)).Where(x => x.c?["name"]?.GetValue<string>() == "primary").Select(x => (int?)x.i).FirstOrDefault() : null;
    }

    private static void Gpu(JsonObject pod, JsonObject container, string containerPath, DeviceProfileSpec spec, GpuSettings settings, JsonArray patch, List<string> conflicts)
    {
        var device = spec.Device;
        var resource = device.MigProfile is { } mig ? $"nvidia.com/mig-{mig}" : device.ResourceName ?? settings.ResourceName;
        var count = (device.Count ?? 1).ToString(CultureInfo.InvariantCulture);
        var kept = false;
        var asked = ResourceKinds.SelectMany(kind => ((container["resources"]?[kind] as JsonObject) ?? []).Select(kv => kv.Key)).Where(settings.IsGpu).Distinct().ToList();
        if (asked.Count > 0 && !asked.SequenceEqual([resource]))
        {
            // The pod already asks for a GPU of another kind (propeller set it, or a MIG slice): keep it, add none on top.
            conflicts.Add("gpu-resource");
            kept = true;
        }
        else if (container["resources"] is not JsonObject resources)
        {
            patch.Add(Op("add", containerPath + "/resources", new JsonObject { ["limits"] = new JsonObject { [resource] = count }, ["requests"] = new JsonObject { [resource] = count } }));
        }
        else
        {
            foreach (var kind in ResourceKinds)
            {
                if (resources[kind] is not JsonObject map)
                {
                    patch.Add(Op("add", $"{containerPath}/resources/{kind}", new JsonObject { [resource] = count }));
                }
                else if (map[resource] is null)
                {
                    patch.Add(Op("add", $"{containerPath}/resources/{kind}/{Escape(resource)}", count));
                }
                else if (map[resource]!.ToString() != count)
                {
                    conflicts.Add($"{kind}.{resource}");
                }
            }
        }

        var wanted = settings.Tolerations.Select(t => (JsonObject)t.DeepClone()).ToList();
        wanted.AddRange((spec.Tolerations ?? []).Select(t => JsonNode.Parse(k8s.KubernetesJson.Serialize(t))!.AsObject()));
        var existing = pod["spec"]!["tolerations"] as JsonArray;
        var missing = wanted.Where((w, i) => (existing is null || !existing.Any(e => JsonNode.DeepEquals(e, w))) && !wanted.Take(i).Any(p => JsonNode.DeepEquals(p, w))).ToList();
        if (existing is null && missing.Count > 0)
        {
            patch.Add(Op("add", "/spec/tolerations", new JsonArray([.. missing])));
        }
        else
        {
            foreach (var toleration in missing)
            {
                patch.Add(Op("add", "/spec/tolerations/-", toleration));
            }
        }

        var expressions = new List<JsonObject>();
        if (device.GpuProduct is { } product)
        {
            expressions.Add(new JsonObject { ["key"] = settings.DeviceNodeLabel, ["operator"] = "In", ["values"] = new JsonArray(product) });
        }

        // A partition is required only of the slice we asked for, not of a GPU the pod already had.
        if (device.MigProfile is { } partition && !kept)
        {
            expressions.Add(new JsonObject { ["key"] = settings.PartitionSizeNodeLabel, ["operator"] = "In", ["values"] = new JsonArray(partition) });
        }

        if (expressions.Count > 0)
        {
            Affinity(pod, expressions, patch);
        }
    }

    /// <summary>
    /// Requires <paramref name="expressions"/> of the node: a new required term, or each one added to
    /// every existing term (terms are ORed: a constraint missing from one would let the pod through it),
    /// as propeller does with its own.
    /// </summary>
    private static void Affinity(JsonObject pod, List<JsonObject> expressions, JsonArray patch)
    {
        var required = new JsonObject { ["nodeSelectorTerms"] = new JsonArray(new JsonObject { ["matchExpressions"] = new JsonArray([.. expressions]) }) };
        var affinity = pod["spec"]!["affinity"] as JsonObject;
        if (affinity is null)
        {
            patch.Add(Op("add", "/spec/affinity", new JsonObject { ["nodeAffinity"] = new JsonObject { ["requiredDuringSchedulingIgnoredDuringExecution"] = required } }));
        }
        else if (affinity["nodeAffinity"] is not JsonObject nodeAffinity)
        {
            patch.Add(Op("add", "/spec/affinity/nodeAffinity", new JsonObject { ["requiredDuringSchedulingIgnoredDuringExecution"] = required }));
        }
        else if (nodeAffinity["requiredDuringSchedulingIgnoredDuringExecution"]?["nodeSelectorTerms"] is not JsonArray { Count: > 0 } terms)
        {
            patch.Add(Op(nodeAffinity.ContainsKey("requiredDuringSchedulingIgnoredDuringExecution") ? "replace" : "add", "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution", required));
        }
        else
        {
            for (var i = 0; i < terms.Count; i++)
            {
                var path = $"/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/{i}/matchExpressions";
                var present = terms[i]?["matchExpressions"] as JsonArray;
                var add = expressions.Where(e => present is null || !present.Any(p => JsonNode.DeepEquals(p, e))).ToList();
                if (present is null)
                {
                    patch.Add(Op("add", path, new JsonArray([.. add.Select(e => e.DeepClone())])));
                }
                else
                {
                    foreach (var expression in add)
                    {
                        patch.Add(Op("add", path + "/-", expression.DeepClone()));
                    }
                }
            }
        }
    }

    private static bool SharedMemory(JsonObject pod, JsonObject container, string containerPath, string size, JsonArray patch, List<string> conflicts)
    {
        if ((container["volumeMounts"] as JsonArray)?.Any(m => m?["mountPath"]?.GetValue<string>() == "/dev/shm") == true)
        {
            conflicts.Add("dshm");
            return false;
        }

        var volume = new JsonObject { ["name"] = SharedMemoryVolume, ["emptyDir"] = new JsonObject { ["medium"] = "Memory", ["sizeLimit"] = size } };
        patch.Add(pod["spec"]!["volumes"] is JsonArray ? Op("add", "/spec/volumes/-", volume) : Op("add", "/spec/volumes", new JsonArray(volume)));
        var mount = new JsonObject { ["name"] = SharedMemoryVolume, ["mountPath"] = "/dev/shm" };
        patch.Add(container["volumeMounts"] is JsonArray ? Op("add", containerPath + "/volumeMounts/-", mount) : Op("add", containerPath + "/volumeMounts", new JsonArray(mount)));
        return true;
    }

    /// <summary>Rewrites the task's --inputs to the prepared copy and adds the init container; the original inputs URI, or null when the container has no inputs to prepare.</summary>
    private static string? Inputs(JsonObject pod, JsonObject container, string containerPath, TorchDevice device, MutationOptions options, JsonArray patch)
    {
        foreach (var field in new[] { "args", "command" })
        {
            if (container[field] is not JsonArray words)
            {
                continue;
            }

            var list = words.Select(w => w?.GetValue<string>() ?? string.Empty).ToList();
            var inputsAt = list.IndexOf("--inputs");
            var prefixAt = list.IndexOf("--output-prefix");
            if (inputsAt < 0 || inputsAt + 1 >= list.Count || prefixAt < 0 || prefixAt + 1 >= list.Count)
            {
                continue;
            }

            var source = list[inputsAt + 1];
            if (!InputsUris.IsReadable(source))
            {
                return null;
            }

            // A map subtask reads only its own item; legacy map subtasks share one output prefix, so each gets its own file.
            var index = MapTaskInputs.ParseIndex(((container["env"] as JsonArray) ?? []).FirstOrDefault(e => e?["name"]?.GetValue<string>() == MapTaskInputs.IndexVariable)?["value"]?.GetValue<string>());
            var derived = list[prefixAt + 1].TrimEnd('/') + (index is { } i ? $"/torchferry-inputs-{i.ToString(CultureInfo.InvariantCulture)}.pb" : "/torchferry-inputs.pb");
            patch.Add(Op("replace", $"{containerPath}/{field}/{inputsAt + 1}", derived));
            var init = new JsonObject
            {
                ["name"] = InitContainerName,
                ["image"] = options.PrepareInputsImage,
                ["args"] = new JsonArray("prepare-inputs", "--source", source, "--target", derived, "--device", device.Name, "--timeout", options.PrepareInputsTimeoutSeconds.ToString(CultureInfo.InvariantCulture), "--operator-wait", options.PrepareInputsOperatorWaitSeconds.ToString(CultureInfo.InvariantCulture)),
                ["env"] = new JsonArray([.. ((container["env"] as JsonArray) ?? []).Select(e => e?.DeepClone()), new JsonObject { ["name"] = "NVIDIA_VISIBLE_DEVICES", ["value"] = "void" }]),
                ["resources"] = options.PrepareInputsResources.For(container),
                ["imagePullPolicy"] = "IfNotPresent",
                ["securityContext"] = new JsonObject
                {
                    ["runAsNonRoot"] = true,

                    // Set, so a pod-level runAsUser: 0 (some pod templates) cannot make the kubelet refuse it.
                    ["runAsUser"] = InitRunAsUser,
                    ["allowPrivilegeEscalation"] = false,
                    ["readOnlyRootFilesystem"] = true,
                    ["capabilities"] = new JsonObject { ["drop"] = new JsonArray("ALL") },
                },
            };
            // The task's mounts come along: IRSA's projected token (AWS_WEB_IDENTITY_TOKEN_FILE), file-mounted secrets.
            if (container["volumeMounts"] is JsonArray mounts)
            {
                init["volumeMounts"] = mounts.DeepClone();
            }

            if (options.Variants.Prefix is { } variantPrefix)
            {
                init["args"]!.AsArray().Add("--variant-prefix");
                init["args"]!.AsArray().Add(variantPrefix);
            }

            if (index is { } item)
            {
                init["args"]!.AsArray().Add("--array-index");
                init["args"]!.AsArray().Add(item.ToString(CultureInfo.InvariantCulture));
            }

            if (container["envFrom"] is JsonArray envFrom)
            {
                init["envFrom"] = envFrom.DeepClone();
            }

            patch.Add(pod["spec"]!["initContainers"] is JsonArray ? Op("add", "/spec/initContainers/-", init) : Op("add", "/spec/initContainers", new JsonArray(init)));
            return source;
        }

        return null;
    }

    private static IEnumerable<string> Words(JsonObject container) =>
        ((container["command"] as JsonArray) ?? []).Concat((container["args"] as JsonArray) ?? []).Select(w => w?.GetValue<string>() ?? string.Empty);

    private static JsonObject Op(string op, string path, JsonNode? value) => new() { ["op"] = op, ["path"] = path, ["value"] = value };

    private static string Escape(string key) => key.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
}
