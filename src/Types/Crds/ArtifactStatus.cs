using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using TorchFerry.Contract;

namespace TorchFerry.Crds;

/// <summary>What the operator found and made for an artifact.</summary>
public sealed record ArtifactStatus
{
    [Description("Pending, Inspecting, Converting, Ready or Failed.")]
    public ArtifactPhase? Phase { get; init; }

    [Description("The .metadata.generation this status reflects.")]
    public long? ObservedGeneration { get; init; }

    [Description("The source as inspected.")]
    public InspectedSource? Source { get; init; }

    [Description("One entry per converted variant.")]
    [ListMapKey("device")]
    public IReadOnlyList<ArtifactVariant>? Variants { get; init; }

    [Description("Inspected and Ready, with observedGeneration.")]
    [ListMapKey("type")]
    public IReadOnlyList<Condition>? Conditions { get; init; }
}

/// <summary>The source artifact as the operator read it (directory and pickle only).</summary>
public sealed record InspectedSource
{
    [Range(0)]
    public long? Size { get; init; }

    [JsonPropertyName("etag")]
    public string? ETag { get; init; }

    [Description("Devices its storages are recorded on.")]
    public IReadOnlyList<string>? Devices { get; init; }

    [Range(0)]
    public int? TensorCount { get; init; }

    public IReadOnlyList<string>? Dtypes { get; init; }

    [Description("tensor, module, stateDict, checkpoint, other, or directory (a TorchDirectory: the rest sums up its torch.save files).")]
    public string? Kind { get; init; }

    [Description("A checkpoint's flat hyperparameters.")]
    [PreserveUnknownFields]
    public JsonObject? Hyperparameters { get; init; }

    [Description("Whether torch.load(weights_only=True), torch's default from 2.6, loads the source (the device aside), and what it refuses.")]
    public WeightsOnlyStatus? WeightsOnly { get; init; }
}

/// <summary>The source against torch's weights-only loader.</summary>
public sealed record WeightsOnlyStatus
{
    [Description("The torch release whose allowlist was used (major.minor).")]
    public string? Torch { get; init; }

    [Description("True when that release's weights-only loader takes every global and opcode of the pickle.")]
    public bool? Loads { get; init; }

    [Description("The globals (module.Name) and opcodes it refuses; at most 20, the last saying how many more.")]
    public IReadOnlyList<string>? BlockedBy { get; init; }
}

/// <summary>One converted copy of the artifact.</summary>
public sealed record ArtifactVariant
{
    [Required]
    [Pattern(TorchDevice.Pattern)]
    public required string Device { get; init; }

    [Required]
    public required string Uri { get; init; }

    [Range(0)]
    public long? Size { get; init; }

    [JsonPropertyName("etag")]
    public string? ETag { get; init; }

    [Description("The source ETag the variant was converted from; a different source ETag means it is stale.")]
    [JsonPropertyName("sourceEtag")]
    public string? SourceETag { get; init; }

    public DateTimeOffset? ConvertedAt { get; init; }

    [Description("When a consumer last asked for this variant (from the torchferry.io/last-used-<device> annotation); with spec.ttlAfterUnused the variant is deleted that long after the later of this and convertedAt.")]
    public DateTimeOffset? LastUsedAt { get; init; }

    [Description("Bytes that passed through the operator for this conversion.")]
    [Range(0)]
    public long? BytesMoved { get; init; }

    [Description("Seconds the conversion took.")]
    public double? DurationSeconds { get; init; }

    [Description("With spec.weightsOnly: each class turned into plain values to load with weights_only (module.Class → dict (N objects)); empty when nothing had to be. Absent for a variant made without it.")]
    public IReadOnlyList<string>? WeightsOnlyChanges { get; init; }
}

/// <summary>Where an artifact is in its life.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ArtifactPhase>))]
public enum ArtifactPhase
{
    Pending,
    Inspecting,
    Converting,
    Ready,
    Failed,
}
