using k8s;
using k8s.Models;

namespace TorchFerry.Operator.Tests.Hosting;

/// <summary>Task pods as flytepropeller creates them (labels and pyflyte-execute arguments), for the operator's pod watcher.</summary>
internal static class FlyteTaskPods
{
    /// <summary>Creates the pod and, when <paramref name="succeeded"/>, marks it Succeeded as the kubelet would.</summary>
    public static async Task CreateAsync(IKubernetes client, string @namespace, string name, string node, string inputs, string outputPrefix, IDictionary<string, string>? annotations, bool succeeded, V1OwnerReference? owner = null)
    {
        var pod = new V1Pod
        {
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = @namespace,
                Labels = new Dictionary<string, string> { ["execution-id"] = "exec1", ["node-id"] = node, ["task-name"] = $"workflows-{name}", ["project"] = "flytesnacks", ["domain"] = "development" },
                Annotations = annotations,
                OwnerReferences = owner is null ? null : [owner],
            },
            Spec = new V1PodSpec
            {
                Containers =
                [
                    new V1Container
                    {
                        Name = "primary",
                        Image = "ghcr.io/flyteorg/flytekit:py3.11",
                        Args = ["pyflyte-execute", "--inputs", inputs, "--output-prefix", outputPrefix, "--raw-output-data-prefix", $"{outputPrefix}/raw", "--resolver", "flytekit.core.python_auto_container.default_task_resolver", "--", "task-module", "workflows", "task-name", name],
                    },
                ],
            },
        };
        var created = await client.CoreV1.CreateNamespacedPodAsync(pod, @namespace);
        if (succeeded)
        {
            created.Status = new V1PodStatus { Phase = "Succeeded" };
            await client.CoreV1.ReplaceNamespacedPodStatusAsync(created, name, @namespace);
        }
    }
}
