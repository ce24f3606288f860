namespace TorchFerry.Contract;

/// <summary>The labels flytepropeller puts on every task pod (../shared/reference/flyte.md).</summary>
public static class FlyteLabels
{
    public const string ExecutionId = "execution-id";

    public const string NodeId = "node-id";

    public const string TaskName = "task-name";

    public const string Project = "project";

    public const string Domain = "domain";

    /// <summary>
    /// The annotation propeller sets on task pods to name the container that runs the task (flyteplugins
    /// pod/plugin.go); its exit decides the task's outcome.
    /// </summary>
    public const string PrimaryContainerAnnotation = "primary_container_name";

    /// <summary>What makes a pod a Flyte task pod, as a label selector (all three present).</summary>
    public const string Selector = ExecutionId + "," + NodeId + "," + TaskName;

    /// <summary>The labels <see cref="Selector"/> asks for.</summary>
    public static IReadOnlyList<string> Required { get; } = [ExecutionId, NodeId, TaskName];
}
