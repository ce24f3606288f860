using System.Text.Json.Nodes;

namespace TorchFerry.Webhook.Tests;

/// <summary>Flyte task pods and AdmissionReviews as the API server sends them to the webhook.</summary>
internal static class AdmissionFixtures
{
    /// <summary>A pod as flytepropeller makes it for a container task.</summary>
    public static JsonObject FlytePod(string entrypoint = "pyflyte-execute")
    {
        var args = entrypoint switch
        {
            "pyflyte-fast-execute" => """["pyflyte-fast-execute", "--additional-distribution", "s3://flyte/fast/abc.tar.gz", "--dest-dir", "/root", "--", "pyflyte-execute", "--inputs", "s3://flyte/metadata/f/n1/data/inputs.pb", "--output-prefix", "s3://flyte/metadata/f/n1/data/0", "--raw-output-data-prefix", "s3://flyte/raw/xy", "--checkpoint-path", "s3://flyte/raw/xy/_flytecheckpoints", "--prev-checkpoint", "\"\"", "--resolver", "flytekit.core.python_auto_container.default_task_resolver", "--", "task-module", "workflows.train", "task-name", "train"]""",
            "pyflyte-map-execute" => """["pyflyte-map-execute", "--inputs", "s3://flyte/metadata/f/n1/data/inputs.pb", "--output-prefix", "s3://flyte/metadata/f/n1/data/0", "--raw-output-data-prefix", "s3://flyte/raw/xy", "--resolver", "flytekit.core.python_auto_container.default_task_resolver", "--", "task-module", "workflows.train", "task-name", "train"]""",
            _ => """["pyflyte-execute", "--inputs", "s3://flyte/metadata/f/n1/data/inputs.pb", "--output-prefix", "s3://flyte/metadata/f/n1/data/0", "--raw-output-data-prefix", "s3://flyte/raw/xy", "--checkpoint-path", "s3://flyte/raw/xy/_flytecheckpoints", "--prev-checkpoint", "\"\"", "--resolver", "flytekit.core.python_auto_container.default_task_resolver", "--", "task-module", "workflows.train", "task-name", "train"]""",
        };
        return JsonNode.Parse("""
            {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "f-n1-0", "namespace": "flytesnacks-development",
                          "labels": {"execution-id": "f", "node-id": "n1", "task-name": "workflows-train", "workflow-name": "workflows-wf", "project": "flytesnacks", "domain": "development", "interruptible": "false"}},
             "spec": {"containers": [{"name": "f-n1-0", "image": "cr.flyte.org/flyteorg/flytekit:py3.11-1.13.0",
                                       "args": ARGS,
                                       "env": [{"name": "FLYTE_INTERNAL_EXECUTION_ID", "value": "f"}, {"name": "FLYTE_ATTEMPT_NUMBER", "value": "0"}],
                                       "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "2", "memory": "4Gi"}}}],
                      "restartPolicy": "Never",
                      "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]}}
            """.Replace("ARGS", args, StringComparison.Ordinal))!.AsObject();
    }

    public static JsonObject Review(string uid, JsonObject pod, string @namespace = "flytesnacks-development") =>
        TestSupport.Kubernetes.PodAdmissionReview.Create(uid, pod, @namespace);
}
