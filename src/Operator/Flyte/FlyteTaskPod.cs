using k8s.Models;
using TorchFerry.Contract;
using TorchFerry.Flyte;

namespace TorchFerry.Operator.Flyte;

/// <summary>
/// What TorchFerry reads from a Flyte task pod: its identity labels and, from the container running
/// pyflyte-execute (or -fast-execute, -map-execute), the inputs URI and output prefix. For a pod the
/// webhook gave the prepare-inputs step, the inputs are the ones the task was created with
/// (<see cref="Annotations.InputsSource"/>), not the prepared file its --inputs now names.
/// </summary>
internal sealed record FlyteTaskPod(string Namespace, string Name, string? Project, string? Domain, string Execution, string Node, string Task, string? Inputs, string? OutputPrefix, string? PrimaryContainer, int? ArrayIndex = null)
{
    /// <summary>
    /// Whether the task ended well as Flyte decides it: the pod Succeeded, or its primary container
    /// (primary_container_name) exited 0 while sidecars may still run.
    /// </summary>
    public static bool Succeeded(V1Pod pod, FlyteTaskPod task)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(task);
        return pod.Status?.Phase == "Succeeded"
            || (pod.Status?.Phase == "Running" && pod.Status.ContainerStatuses?.FirstOrDefault(s => s.Name == task.PrimaryContainer)?.State?.Terminated?.ExitCode == 0);
    }

    /// <summary>The Flyte view of <paramref name="pod"/>, or null when it is not a Flyte task pod.</summary>
    public static FlyteTaskPod? From(V1Pod pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var labels = pod.Metadata.Labels ?? new Dictionary<string, string>();
        if (!labels.TryGetValue(FlyteLabels.ExecutionId, out var execution) || !labels.TryGetValue(FlyteLabels.NodeId, out var node) || !labels.TryGetValue(FlyteLabels.TaskName, out var task))
        {
            return null;
        }

        var entry = pod.Spec?.Containers?.FirstOrDefault(c => ((IList<string>)[.. c.Command ?? [], .. c.Args ?? []]).Any(FlyteTaskArgs.IsEntrypoint));
        IList<string>? args = entry is null ? null : [.. entry.Command ?? [], .. entry.Args ?? []];
        var primary = pod.Metadata.Annotations?.TryGetValue(FlyteLabels.PrimaryContainerAnnotation, out var named) == true ? named : entry?.Name;
        return new FlyteTaskPod(
            pod.Metadata.NamespaceProperty,
            pod.Metadata.Name,
            labels.TryGetValue(FlyteLabels.Project, out var project) ? project : null,
            labels.TryGetValue(FlyteLabels.Domain, out var domain) ? domain : null,
            execution,
            node,
            task,
            pod.Metadata.Annotations?.TryGetValue(Annotations.InputsSource, out var source) == true ? source : args is null ? null : FlyteTaskArgs.ValueOf(args, "--inputs"),
            args is null ? null : FlyteTaskArgs.ValueOf(args, "--output-prefix"),
            primary,
            MapTaskInputs.ParseIndex(entry?.Env?.FirstOrDefault(e => e.Name == MapTaskInputs.IndexVariable)?.Value));
    }
}
