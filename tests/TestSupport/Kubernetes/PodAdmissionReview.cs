using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport.Kubernetes;

/// <summary>The admission.k8s.io/v1 AdmissionReview the API server sends a mutating webhook for a pod CREATE by flytepropeller.</summary>
public static class PodAdmissionReview
{
    public static JsonObject Create(string uid, JsonObject pod, string @namespace)
    {
        ArgumentNullException.ThrowIfNull(pod);
        return new JsonObject
        {
            ["apiVersion"] = "admission.k8s.io/v1",
            ["kind"] = "AdmissionReview",
            ["request"] = new JsonObject
            {
                ["uid"] = uid,
                ["kind"] = new JsonObject { ["group"] = string.Empty, ["version"] = "v1", ["kind"] = "Pod" },
                ["resource"] = new JsonObject { ["group"] = string.Empty, ["version"] = "v1", ["resource"] = "pods" },
                ["requestKind"] = new JsonObject { ["group"] = string.Empty, ["version"] = "v1", ["kind"] = "Pod" },
                ["requestResource"] = new JsonObject { ["group"] = string.Empty, ["version"] = "v1", ["resource"] = "pods" },
                ["name"] = pod["metadata"]?["name"]?.DeepClone(),
                ["namespace"] = @namespace,
                ["operation"] = "CREATE",
                ["userInfo"] = new JsonObject { ["username"] = "system:serviceaccount:flyte:flytepropeller", ["groups"] = new JsonArray("system:serviceaccounts", "system:authenticated") },
                ["object"] = pod.DeepClone(),
                ["oldObject"] = null,
                ["dryRun"] = false,
                ["options"] = new JsonObject { ["apiVersion"] = "meta.k8s.io/v1", ["kind"] = "CreateOptions" },
            },
        };
    }
}
