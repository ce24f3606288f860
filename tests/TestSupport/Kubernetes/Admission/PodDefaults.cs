using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport.Kubernetes.Admission;

/// <summary>
/// What a real API server adds to a pod before (and, for defaulting, again after) mutating webhooks
/// see it: the scheme's defaults (pkg/apis/core/v1/defaults.go), the ServiceAccount admission plugin's
/// token volume and mounts, and DefaultTolerationSeconds' not-ready/unreachable tolerations.
/// </summary>
internal static class PodDefaults
{
    public const string TokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount";

    /// <summary>The scheme's defaults; idempotent, so it runs again on what webhooks returned.</summary>
    public static void Default(JsonObject pod)
    {
        var spec = pod["spec"] as JsonObject ?? throw new ApiError(422, "Invalid", "spec: Required value");
        spec.TryAdd("restartPolicy", "Always");
        spec.TryAdd("dnsPolicy", "ClusterFirst");
        spec.TryAdd("schedulerName", "default-scheduler");
        spec.TryAdd("securityContext", new JsonObject());
        spec.TryAdd("terminationGracePeriodSeconds", 30);
        spec.TryAdd("enableServiceLinks", true);
        spec.TryAdd("preemptionPolicy", "PreemptLowerPriority");
        spec.TryAdd("priority", 0);
        foreach (var container in Containers(spec))
        {
            var image = container["image"]?.GetValue<string>() ?? string.Empty;
            var tag = image.Contains('@', StringComparison.Ordinal) ? "digest" : image.LastIndexOf(':') > image.LastIndexOf('/') ? image[(image.LastIndexOf(':') + 1)..] : "latest";
            container.TryAdd("imagePullPolicy", tag == "latest" ? "Always" : "IfNotPresent");
            container.TryAdd("terminationMessagePath", "/dev/termination-log");
            container.TryAdd("terminationMessagePolicy", "File");
            var resources = container["resources"] as JsonObject ?? new JsonObject();
            container["resources"] = resources;

            // A limit without a request is also the request.
            if (resources["limits"] is JsonObject limits)
            {
                var requests = resources["requests"] as JsonObject ?? new JsonObject();
                foreach (var (name, value) in limits)
                {
                    requests.TryAdd(name, value?.DeepClone());
                }

                resources["requests"] = requests;
            }
        }
    }

    /// <summary>The ServiceAccount and DefaultTolerationSeconds admission plugins, which run before webhooks.</summary>
    public static void Admit(JsonObject pod)
    {
        var spec = pod["spec"]!.AsObject();
        spec.TryAdd("serviceAccountName", "default");
        spec["serviceAccount"] = spec["serviceAccountName"]!.DeepClone();
        if (spec["automountServiceAccountToken"]?.GetValue<bool>() != false)
        {
            var volume = "kube-api-access-" + Guid.NewGuid().ToString("N")[..5];
            var volumes = spec["volumes"] as JsonArray ?? [];
            volumes.Add(new JsonObject
            {
                ["name"] = volume,
                ["projected"] = new JsonObject
                {
                    ["defaultMode"] = 420,
                    ["sources"] = new JsonArray(
                        new JsonObject { ["serviceAccountToken"] = new JsonObject { ["expirationSeconds"] = 3607, ["path"] = "token" } },
                        new JsonObject { ["configMap"] = new JsonObject { ["name"] = "kube-root-ca.crt", ["items"] = new JsonArray(new JsonObject { ["key"] = "ca.crt", ["path"] = "ca.crt" }) } },
                        new JsonObject { ["downwardAPI"] = new JsonObject { ["items"] = new JsonArray(new JsonObject { ["path"] = "namespace", ["fieldRef"] = new JsonObject { ["apiVersion"] = "v1", ["fieldPath"] = "metadata.namespace" } }) } }),
                },
            });
            spec["volumes"] = volumes;
            foreach (var container in Containers(spec))
            {
                var mounts = container["volumeMounts"] as JsonArray ?? [];
                if (!mounts.Any(m => m?["mountPath"]?.GetValue<string>() == TokenMountPath))
                {
                    mounts.Add(new JsonObject { ["name"] = volume, ["readOnly"] = true, ["mountPath"] = TokenMountPath });
                }

                container["volumeMounts"] = mounts;
            }
        }

        var tolerations = spec["tolerations"] as JsonArray ?? [];
        foreach (var key in new[] { "node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable" })
        {
            if (!tolerations.Any(t => t?["key"]?.GetValue<string>() == key))
            {
                tolerations.Add(new JsonObject { ["key"] = key, ["operator"] = "Exists", ["effect"] = "NoExecute", ["tolerationSeconds"] = 300 });
            }
        }

        spec["tolerations"] = tolerations;
    }

    /// <summary>Init containers, then containers.</summary>
    public static IEnumerable<JsonObject> Containers(JsonObject spec) =>
        ((spec["initContainers"] as JsonArray) ?? []).Concat((spec["containers"] as JsonArray) ?? []).OfType<JsonObject>();
}
