using System.Text.Json.Nodes;

namespace TorchFerry.Webhook.Mutation;

/// <summary>
/// How GPUs are asked for in this cluster, the settings flytepropeller's k8s plugin has (and with its
/// defaults), so GPUs the webhook adds look like the ones propeller adds.
/// </summary>
/// <param name="ResourceName">propeller's gpu-resource-name.</param>
/// <param name="DeviceNodeLabel">propeller's gpu-device-node-label: the node label a profile's gpuProduct is matched on.</param>
/// <param name="PartitionSizeNodeLabel">propeller's gpu-partition-size-node-label: the node label a MIG profile is matched on.</param>
/// <param name="Tolerations">propeller's resource-tolerations for the GPU resource.</param>
internal sealed record GpuSettings(string ResourceName, string DeviceNodeLabel, string PartitionSizeNodeLabel, IReadOnlyList<JsonObject> Tolerations)
{
    /// <summary>propeller's defaults, with the common GPU node taint tolerated.</summary>
    public static GpuSettings Default { get; } = new(
        "nvidia.com/gpu",
        "k8s.amazonaws.com/accelerator",
        "k8s.amazonaws.com/gpu-partition-size",
        [new JsonObject { ["key"] = "nvidia.com/gpu", ["operator"] = "Exists", ["effect"] = "NoSchedule" }]);

    /// <summary>Whether a container resource name asks for a GPU of any kind (whole or MIG slice).</summary>
    public bool IsGpu(string resource) =>
        resource == ResourceName || resource == "nvidia.com/gpu" || resource.StartsWith("nvidia.com/mig-", StringComparison.Ordinal);
}
