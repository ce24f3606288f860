using System.Text.Json.Serialization;

namespace TorchFerry.Crds;

/// <summary>A status condition, as Kubernetes API conventions define it.</summary>
[Description("A condition of the resource (Kubernetes API conventions).")]
public sealed record Condition
{
    [Required]
    [Description("CamelCase type, e.g. Ready.")]
    [Pattern("^[A-Z][A-Za-z0-9]*$")]
    public required string Type { get; init; }

    [Required]
    [Description("True, False or Unknown.")]
    public required ConditionStatus Status { get; init; }

    [Description("The .metadata.generation the condition was set for.")]
    [Range(0)]
    public long? ObservedGeneration { get; init; }

    [Required]
    [Description("When the status last changed (RFC 3339).")]
    public required DateTimeOffset LastTransitionTime { get; init; }

    [Required]
    [Description("CamelCase reason for the last transition.")]
    [Pattern("^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")]
    public required string Reason { get; init; }

    [Description("A human-readable message.")]
    public string? Message { get; init; }
}

/// <summary>Whether a condition holds.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ConditionStatus>))]
public enum ConditionStatus
{
    True,
    False,
    Unknown,
}
