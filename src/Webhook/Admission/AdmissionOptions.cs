using TorchFerry.Contract;

namespace TorchFerry.Webhook.Admission;

/// <summary>Which pods the webhook leaves alone, and what it injects.</summary>
internal sealed record AdmissionOptions
{
    /// <summary>The webhook's own namespace, never mutated (a broken webhook must not block its own repair).</summary>
    public string OwnNamespace { get; init; } = "torchferry-system";

    /// <summary>Namespaces never mutated besides the own one.</summary>
    public IReadOnlySet<string> ExcludedNamespaces { get; init; } = new HashSet<string>(StringComparer.Ordinal) { "kube-system", "kube-public", "kube-node-lease" };

    /// <summary>Namespaces whose Flyte pods get their PyTorch inputs for this device without an annotation (Helm values).</summary>
    public IReadOnlyDictionary<string, TorchDevice> InputsDeviceByNamespace { get; init; } = new Dictionary<string, TorchDevice>(StringComparer.Ordinal);

    /// <summary>The image of the prepare-inputs init container (entry point <c>torchferry</c>).</summary>
    public required string PrepareInputsImage { get; init; }

    /// <summary>How long the init container waits for variants before passing the original inputs on.</summary>
    public int PrepareInputsTimeoutSeconds { get; init; } = Mutation.MutationOptions.DefaultTimeoutSeconds;

    /// <summary>The init container's CPU and memory.</summary>
    public Mutation.InitResources PrepareInputsResources { get; init; } = Mutation.InitResources.Default;

    /// <summary>How GPUs are asked for (propeller's settings).</summary>
    public Mutation.GpuSettings Gpu { get; init; } = Mutation.GpuSettings.Default;

    /// <summary>How long the init container waits for the operator's variants before converting itself.</summary>
    public int PrepareInputsOperatorWaitSeconds { get; init; } = Mutation.MutationOptions.DefaultOperatorWaitSeconds;
}
