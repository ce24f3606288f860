using System.Text.Json.Serialization;
using k8s.Models;
using TorchFerry.Contract;

namespace TorchFerry.Crds;

/// <summary>Which Flyte task pods a profile applies to and the device they get.</summary>
[Description("Device requirements for the Flyte task pods it selects.")]
public sealed record DeviceProfileSpec
{
    [Required]
    [Description("Pod labels this profile applies to (task-name, workflow-name, project, domain, ...). An empty selector selects every Flyte task pod in the namespace.")]
    public required V1LabelSelector Selector { get; init; }

    [Description("Among profiles matching a pod, the highest priority wins (then the most specific selector, then the name).")]
    [Default(0)]
    [Range(-1000, 1000)]
    public int? Priority { get; init; }

    [Required]
    public required DeviceRequest Device { get; init; }

    [Description("Tolerations added to the pod, besides nvidia.com/gpu for GPU profiles.")]
    public IReadOnlyList<V1Toleration>? Tolerations { get; init; }

    [Description("Size limit of a memory-backed /dev/shm (e.g. 8Gi); none when unset.")]
    [Pattern("^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$")]
    public string? SharedMemorySize { get; init; }

    [Description("The device PyTorch inputs of the selected pods are delivered on (cpu converts GPU outputs for them).")]
    [Pattern(TorchDevice.Pattern)]
    public string? InputsDevice { get; init; }
}

/// <summary>The device a pod gets.</summary>
[CelRule("self.type == 'gpu' || !has(self.migProfile)", "migProfile applies to gpu profiles only")]
[CelRule("self.type == 'gpu' || !has(self.gpuProduct)", "gpuProduct applies to gpu profiles only")]
public sealed record DeviceRequest
{
    [Required]
    [Description("gpu or cpu.")]
    public required DeviceType Type { get; init; }

    [Description("GPUs (or MIG slices) per pod.")]
    [Default(1)]
    [Range(1, 64)]
    public int? Count { get; init; }

    [Description("Extended resource name; default: the webhook's GPU resource name (propeller's gpu-resource-name, nvidia.com/gpu); nvidia.com/mig-<profile> when migProfile is set.")]
    [Pattern("^[a-z0-9.-]+/[a-z0-9.-]+$")]
    public string? ResourceName { get; init; }

    [Description("A MIG profile such as 1g.10gb (requests nvidia.com/mig-1g.10gb; node affinity on the webhook's partition size label, propeller's gpu-partition-size-node-label).")]
    [Pattern("^[0-9]+g\\.[0-9]+gb$")]
    public string? MigProfile { get; init; }

    [Description("Accelerator for node affinity on the webhook's device node label (propeller's gpu-device-node-label, default k8s.amazonaws.com/accelerator), e.g. nvidia-tesla-a100.")]
    public string? GpuProduct { get; init; }
}

/// <summary>Accelerator or not.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DeviceType>))]
public enum DeviceType
{
    [JsonStringEnumMemberName("gpu")]
    Gpu,

    [JsonStringEnumMemberName("cpu")]
    Cpu,
}
