using k8s.Models;
using TorchFerry.Flyte;

namespace TorchFerry.Operator.Flyte;

/// <summary>
/// What TorchFerry reads from a Flyte task pod: its identity labels and, from the container running
/// pyflyte-execute (or -fast-execute, -map-execute), the inputs URI and output prefix.
/// </summary>
internal sealed record FlyteTaskPod(string Namespace, string Name, string? Project, string? Domain, string Execution, string Node, string Task, string? Inputs, string? OutputPrefix)
{
    /// <summary>The label selector for Flyte task pods.</summary>
    public const string Selector = "execution-id,node-id,task-name";

    /// <summary>Annotation asking the operator to convert the pod's PyTorch inputs for a device.</summary>
    public const string TargetDeviceAnnotation = "torchferry.io/target-device";

    /// <summary>The Flyte view of <paramref name="pod"/>, or null when it is not a Flyte task pod.</summary>
    public static FlyteTaskPod? From(V1Pod pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var labels = pod.Metadata.Labels ?? new Dictionary<string, string>();
        if (!labels.TryGetValue("execution-id", out var execution) || !labels.TryGetValue("node-id", out var node) || !labels.TryGetValue("task-name", out var task))
        {
            return null;
        }

        var args = pod.Spec?.Containers?
            .Select(c => (IList<string>)[.. c.Command ?? [], .. c.Args ?? []])
            .FirstOrDefault(a => a.Any(FlyteTaskArgs.IsEntrypoint));
        return new FlyteTaskPod(
            pod.Metadata.NamespaceProperty,
            pod.Metadata.Name,
            (labels.TryGetValue("project", out var project) ? project : null),
            (labels.TryGetValue("domain", out var domain) ? domain : null),
            execution,
            node,
            task,
            args is null ? null : FlyteTaskArgs.ValueOf(args, "--inputs"),
            args is null ? null : FlyteTaskArgs.ValueOf(args, "--output-prefix"));
    }
}
