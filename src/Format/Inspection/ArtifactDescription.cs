using System.Text.Json.Nodes;

namespace TorchFerry.Format.Inspection;

/// <summary>What <c>torchferry inspect</c> reports; its JSON form is documented in docs/inspect-json.md.</summary>
public sealed record ArtifactDescription
{
    /// <summary>Version of this JSON shape; bumped only on incompatible changes.</summary>
    public int SchemaVersion { get; init; } = 1;

    public required string Source { get; init; }

    public required long SizeBytes { get; init; }

    /// <summary>The archive's root folder.</summary>
    public required string Root { get; init; }

    public required int PickleProtocol { get; init; }

    public required ArtifactKind Kind { get; init; }

    /// <summary>The module's class (<c>module.Class</c>) when <see cref="Kind"/> is Module.</summary>
    public string? ModuleClass { get; init; }

    /// <summary>A checkpoint's flat hyperparameters (JSON values; other objects as a description string).</summary>
    public JsonObject? Hyperparameters { get; init; }

    public required IReadOnlyList<TensorDescription> Tensors { get; init; }

    public required IReadOnlyList<StorageDescription> Storages { get; init; }

    public required IReadOnlyList<UnsupportedTensor> Unsupported { get; init; }

    /// <summary>Whether each known torch release's weights_only loader takes the archive, oldest first.</summary>
    public required IReadOnlyList<WeightsOnlyVerdict> WeightsOnly { get; init; }

    public required ArtifactTotals Totals { get; init; }
}

/// <summary>Sums over the archive.</summary>
/// <param name="Tensors">Tensor paths.</param>
/// <param name="Storages">Storages.</param>
/// <param name="StorageBytes">Bytes of all storages.</param>
/// <param name="TensorBytes">Bytes of all tensor paths (shared storage counted per path).</param>
/// <param name="Locations">Storages per recorded device.</param>
/// <param name="Dtypes">Tensor paths per dtype.</param>
public sealed record ArtifactTotals(
    int Tensors,
    int Storages,
    long StorageBytes,
    long TensorBytes,
    IReadOnlyDictionary<string, int> Locations,
    IReadOnlyDictionary<string, int> Dtypes);
