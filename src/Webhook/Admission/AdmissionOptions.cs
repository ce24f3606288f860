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

    /// <summary>What is injected: the prepare-inputs init container and GPU settings.</summary>
    public required Mutation.MutationOptions Mutation { get; init; }
}
