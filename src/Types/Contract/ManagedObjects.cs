namespace TorchFerry.Contract;

/// <summary>How TorchFerry marks the objects it manages: its finalizer and its labels.</summary>
public static class ManagedObjects
{
    /// <summary>On artifacts: the variants must be removed before the artifact goes.</summary>
    public const string VariantsFinalizer = "torchferry.io/variants";

    /// <summary>The well-known label naming the manager of an object.</summary>
    public const string ManagedByLabel = "app.kubernetes.io/managed-by";

    /// <summary>Our value of <see cref="ManagedByLabel"/>.</summary>
    public const string ManagedBy = "torchferry";
}
