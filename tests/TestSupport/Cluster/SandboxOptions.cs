namespace TorchFerry.TestSupport.Cluster;

/// <summary>What the sandbox starts with.</summary>
public sealed record SandboxOptions
{
    /// <summary>The Flyte project and domain; their namespace is project-domain.</summary>
    public string Project { get; init; } = "flytesnacks";

    public string Domain { get; init; } = "development";

    public string Namespace => $"{Project}-{Domain}";

    /// <summary>Whether the webhook runs (its Service has no endpoints otherwise).</summary>
    public bool Webhook { get; init; } = true;

    /// <summary>Whether the operator runs.</summary>
    public bool Operator { get; init; } = true;

    /// <summary>The chart's webhook.failurePolicy.</summary>
    public string FailurePolicy { get; init; } = "Ignore";

    /// <summary>The chart's webhook.inputsDevice: namespaces whose pods get inputs for a device without an annotation.</summary>
    public IReadOnlyDictionary<string, string> InputsDeviceNamespaces { get; init; } = new Dictionary<string, string>();

    /// <summary>A DeviceProfile giving this task (sandbox_tasks name) one GPU, or null for none.</summary>
    public string? GpuProfileTask { get; init; } = "train";

    /// <summary>A ResourceQuota with limits.cpu and limits.memory in the project namespace (flyte-core's cluster-resource template makes one).</summary>
    public bool ComputeQuota { get; init; }

    /// <summary>The chart's prepareInputs.timeoutSeconds.</summary>
    public int PrepareInputsTimeoutSeconds { get; init; } = 300;

    /// <summary>The chart's prepareInputs.operatorWaitSeconds.</summary>
    public int PrepareInputsOperatorWaitSeconds { get; init; } = 10;

    /// <summary>Task pods' store access refuses writes of variants (403), as a role that may not write there would.</summary>
    public bool TasksMayNotWriteVariants { get; init; }

    /// <summary>The chart's <c>variants.prefix</c>: variants under this bucket-level prefix (null: beside their sources).</summary>
    public string? VariantPrefix { get; init; }

    /// <summary>The train DeviceProfile's migProfile, if any.</summary>
    public string? MigProfile { get; init; }

    /// <summary>The train DeviceProfile's gpuProduct (required on the webhook's device node label).</summary>
    public string? GpuProduct { get; init; }

    /// <summary>The node's labels (besides its hostname).</summary>
    public IReadOnlyDictionary<string, string> NodeLabels { get; init; } = new Dictionary<string, string>();

    /// <summary>The node's NoSchedule taints.</summary>
    public IReadOnlyList<(string Key, string? Value)> NodeTaints { get; init; } = [];

    /// <summary>How long a node may take before the workflow fails.</summary>
    public TimeSpan NodeTimeout { get; init; } = TimeSpan.FromMinutes(3);

    /// <summary>GPUs the node has.</summary>
    public int Gpus { get; init; } = 1;
}
