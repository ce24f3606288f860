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
internal sealed record FlyteTaskPod(string Namespace, string Name, string? Project, string? Domain, string Execution, string Node, string Task, string? Inputs, string? OutputPrefix)
{
    /// <summary>The Flyte view of <paramref name="pod"/>, or null when it is not a Flyte task pod.</summary>
    public static FlyteTaskPod? From(V1Pod pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var labels = pod.Metadata.Labels ?? new Dictionary<string, string>();
        if (!labels.TryGetValue(FlyteLabels.ExecutionId, out var execution) || !labels.TryGetValue(FlyteLabels.NodeId, out var node) || !labels.TryGetValue(FlyteLabels.TaskName, out var task))
        {
            return null;
        }

        var args = pod.Spec?.Containers?
            .Select(c => (IList<string>)[.. c.Command ?? [], .. c.Args ?? []])
            .FirstOrDefault(a => a.Any(FlyteTaskArgs.IsEntrypoint));
        return new FlyteTaskPod(
            pod.Metadata.NamespaceProperty,
            pod.Metadata.Name,
            labels.TryGetValue(FlyteLabels.Project, out var project) ? project : null,
            labels.TryGetValue(FlyteLabels.Domain, out var domain) ? domain : null,
            execution,
            node,
            task,
            pod.Metadata.Annotations?.TryGetValue(Annotations.InputsSource, out var source) == true ? source : args is null ? null : FlyteTaskArgs.ValueOf(args, "--inputs"),
            args is null ? null : FlyteTaskArgs.ValueOf(args, "--output-prefix"));
    }
}
