namespace TorchFerry.TestSupport.Cluster;

/// <summary>How a task's pod is built, as flytekit declares tasks.</summary>
public enum TaskShape
{
    /// <summary>A python task: one container named after the pod, running pyflyte-execute.</summary>
    Container,

    /// <summary>A pod-template task: the task in container "primary", beside a long-running sidecar.</summary>
    PodTemplateWithSidecar,

    /// <summary>Fast-registered code: pyflyte-fast-execute --additional-distribution ... -- pyflyte-execute ...</summary>
    FastRegistered,

    /// <summary>A legacy map task (with MapSize): pyflyte-map-execute, every subtask sharing one --output-prefix (flytekit appends its index).</summary>
    LegacyMap,
}

/// <summary>One node of a sandbox workflow: a task of sandbox_tasks.py and where its inputs come from.</summary>
/// <param name="Id">The node id (n0, n1, ...), also the pod's node-id label.</param>
/// <param name="Task">The task body's name in sandbox_tasks.py (train, predict).</param>
public sealed record WorkflowNode(string Id, string Task)
{
    /// <summary>Inputs bound to an upstream output: input name → "nodeId.outputName".</summary>
    public IReadOnlyDictionary<string, string> Bindings { get; init; } = new Dictionary<string, string>();

    /// <summary>Inputs given as integers.</summary>
    public IReadOnlyDictionary<string, long> Integers { get; init; } = new Dictionary<string, long>();

    public TaskShape Shape { get; init; } = TaskShape.Container;

    /// <summary>An ArrayNode map task over this many items: one pod per item, each picking its item of every list input.</summary>
    public int? MapSize { get; init; }

    /// <summary>GPUs the task requests itself (propeller sets the GPU resource, toleration and affinity).</summary>
    public int Gpus { get; init; }

    /// <summary>
    /// An interruptible task: propeller labels it, adds its interruptible toleration and appends its
    /// interruptible node selector requirement (here node-lifecycle In [spot]) as a required term.
    /// </summary>
    public bool Interruptible { get; init; }

    /// <summary>A pod template that runs the pod as root (securityContext.runAsUser: 0 at pod level).</summary>
    public bool PodRunsAsRoot { get; init; }

    /// <summary>Annotations the task declares (flytekit's pod annotations), e.g. torchferry.io/inputs-device.</summary>
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();
}

/// <summary>How a node ended.</summary>
/// <param name="Node">The node id.</param>
/// <param name="Pod">The task pod's name.</param>
/// <param name="Container">The container that ran the task (primary_container_name).</param>
/// <param name="Succeeded">Whether the task succeeded (outputs.pb written, pod not failed).</param>
/// <param name="Error">Why not: error.pb's message, the pod's failure or the API server's refusal.</param>
/// <param name="Outputs">The outputs LiteralMap as Flyte's own code decodes it.</param>
public sealed record NodeOutcome(string Node, string Pod, string Container, bool Succeeded, string? Error, System.Text.Json.Nodes.JsonNode? Outputs)
{
    /// <summary>The URI of the blob the task returned as <paramref name="output"/>.</summary>
    public string BlobUri(string output) => Outputs!["literals"]![output]!["scalar"]!["blob"]!["uri"]!.GetValue<string>();
}
