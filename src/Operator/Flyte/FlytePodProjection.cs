using k8s.Models;
using TorchFerry.Contract;
using TorchFerry.Flyte;

namespace TorchFerry.Operator.Flyte;

/// <summary>
/// What the operator keeps of a Flyte task pod in its cache: identity, owners, Flyte's labels and the
/// annotations TorchFerry reads; of the container running pyflyte-execute only its name, the
/// entrypoint with <c>--inputs</c> and <c>--output-prefix</c>, and the map-task index variable; the
/// phase and how each container ended. A propeller pod is about 6 KiB of JSON with its environment,
/// arguments, volumes and tolerations; this is a tenth of it, so the cache grows with live pods, not
/// their size (controller-runtime's cache transforms do the same).
/// </summary>
internal static class FlytePodProjection
{
    private static readonly string[] KeptLabels = [.. FlyteLabels.Required, FlyteLabels.Project, FlyteLabels.Domain];
    private static readonly string[] KeptAnnotations = [FlyteLabels.PrimaryContainerAnnotation, Annotations.TargetDevice, Annotations.InputsSource];
    private static readonly string[] KeptFlags = ["--inputs", "--output-prefix"];

    /// <summary>
    /// What the cache keeps of a pod once it is handled (its outputs registered, its inputs' targets
    /// added, or nothing to do): name, namespace, uid and version, under 200 bytes. Its next change
    /// brings the projection back.
    /// </summary>
    public static V1Pod Shell(V1Pod pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        return new V1Pod
        {
            Metadata = new V1ObjectMeta
            {
                Name = pod.Metadata.Name,
                NamespaceProperty = pod.Metadata.NamespaceProperty,
                Uid = pod.Metadata.Uid,
                ResourceVersion = pod.Metadata.ResourceVersion,
            },
        };
    }

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
                DeletionTimestamp = meta.DeletionTimestamp,
                Labels = Only(meta.Labels, KeptLabels),
                Annotations = Only(meta.Annotations, KeptAnnotations),
                OwnerReferences = FlyteWorkflowOwner.Of(meta) is { } owner ? [owner] : null,
            },
            Spec = pod.Spec is not { } spec ? null : new V1PodSpec
            {
                Containers = [.. (spec.Containers ?? []).Select(Entry).OfType<V1Container>()],
            },
            Status = pod.Status is not { } status ? null : new V1PodStatus
            {
                Phase = status.Phase,
                ContainerStatuses = status.ContainerStatuses?.Select(s => new V1ContainerStatus
                {
                    Name = s.Name,
                    State = s.State?.Terminated is { } ended ? new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = ended.ExitCode } } : null,
                }).ToList(),
            },
        };
    }

    // The container running the task, reduced to what identifies its inputs and outputs; null for others.
    private static V1Container? Entry(V1Container container)
    {
        List<string> words = [.. container.Command ?? [], .. container.Args ?? []];
        if (words.FirstOrDefault(FlyteTaskArgs.IsEntrypoint) is not { } entrypoint)
        {
            return null;
        }

        List<string> args = [entrypoint];
        foreach (var flag in KeptFlags)
        {
            if (FlyteTaskArgs.ValueOf(words, flag) is { } value)
            {
                args.AddRange([flag, value]);
            }
        }

        return new V1Container
        {
            Name = container.Name,
            Args = args,
            Env = container.Env?.Where(e => e.Name == MapTaskInputs.IndexVariable).Select(e => new V1EnvVar { Name = e.Name, Value = e.Value }).ToList() is { Count: > 0 } index ? index : null,
        };
    }

    private static Dictionary<string, string>? Only(IDictionary<string, string>? all, string[] keys) =>
        all is null ? null : keys.Where(all.ContainsKey).ToDictionary(k => k, k => all[k], StringComparer.Ordinal);
}
