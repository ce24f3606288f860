using k8s.Models;
using TorchFerry.Flyte;

namespace TorchFerry.Operator.Flyte;

/// <summary>
/// What the operator keeps of a Flyte task pod in its cache: identity, labels, annotations and owners;
/// each container's name, command, arguments and the map-task index variable; the phase and each
/// container's state. A propeller pod is tens of KiB with its environment, volumes, tolerations and
/// managed fields; this is a few hundred bytes, so the cache grows with live pods, not their size
/// (controller-runtime's cache transforms do the same).
/// </summary>
internal static class FlytePodProjection
{
    /// <summary>The part of <paramref name="pod"/> that <see cref="FlyteTaskPod"/>, the reconciler and events read.</summary>
    public static V1Pod Strip(V1Pod pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var meta = pod.Metadata;
        return new V1Pod
        {
            ApiVersion = pod.ApiVersion,
            Kind = pod.Kind,
            Metadata = meta is null ? null : new V1ObjectMeta
            {
                Name = meta.Name,
                NamespaceProperty = meta.NamespaceProperty,
                Uid = meta.Uid,
                ResourceVersion = meta.ResourceVersion,
                Generation = meta.Generation,
                CreationTimestamp = meta.CreationTimestamp,
                DeletionTimestamp = meta.DeletionTimestamp,
                Labels = meta.Labels,
                Annotations = meta.Annotations,
                OwnerReferences = meta.OwnerReferences,
            },
            Spec = pod.Spec is not { } spec ? null : new V1PodSpec
            {
                Containers = spec.Containers?.Select(c => new V1Container
                {
                    Name = c.Name,
                    Command = c.Command,
                    Args = c.Args,
                    Env = c.Env?.Where(e => e.Name == MapTaskInputs.IndexVariable).Select(e => new V1EnvVar { Name = e.Name, Value = e.Value }).ToList() is { Count: > 0 } index ? index : null,
                }).ToList() ?? [],
            },
            Status = pod.Status is not { } status ? null : new V1PodStatus
            {
                Phase = status.Phase,
                ContainerStatuses = status.ContainerStatuses?.Select(s => new V1ContainerStatus { Name = s.Name, State = s.State }).ToList(),
            },
        };
    }
}
