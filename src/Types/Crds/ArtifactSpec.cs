using System.Text.Json.Serialization;
using TorchFerry.Contract;

namespace TorchFerry.Crds;

/// <summary>What a TensorArtifact or CheckpointArtifact asks for: its source and the devices to keep variants for.</summary>
[Description("A PyTorch artifact written by a Flyte task and the devices TorchFerry keeps converted variants for.")]
public sealed record ArtifactSpec
{
    [Required]
    [Description("Where the artifact lives and its Flyte blob format.")]
    public required ArtifactSource Source { get; init; }

    [Description("The Flyte execution that produced it.")]
    public FlyteProducer? Producer { get; init; }

    [Description("Devices to keep a converted variant for: cpu, cuda or cuda:N (N from 0 to 99); cuda means cuda:0.")]
    [Range(0, 16)]
    [ItemPattern(TorchDevice.Pattern)]
    public IReadOnlyList<string>? TargetDevices { get; init; }

    [Description("Also make each variant load with torch.load(weights_only=True), torch's default from 2.6: user objects such as dataclass hyperparameters become plain dicts and tuples (listed in status.variants[].weightsOnlyChanges); an artifact that cannot be made so without losing data fails with the reason.")]
    public bool? WeightsOnly { get; init; }

    [Description("Delete a device's variant once no consumer has asked for it this long (Go duration in h, m and s: 168h, 90m); the next consumer's request makes it again. Uses are recorded by the operator's pod watcher in torchferry.io/last-used-<device> annotations and in status.variants[].lastUsedAt. Unset: variants stay while the artifact does.")]
    [Pattern(KubeDuration.Pattern)]
    public string? TtlAfterUnused { get; init; }

    [Description("What happens to the variants when the artifact is deleted (the source is never deleted).")]
    [Default("Delete")]
    public VariantDeletionPolicy? VariantDeletionPolicy { get; init; }
}

/// <summary>The artifact's location and Flyte blob format.</summary>
public sealed record ArtifactSource
{
    [Required]
    [Description("s3://bucket/key or file:///path of the torch.save archive.")]
    [Pattern("^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+|file:///.+)$")]
    public required string Uri { get; init; }

    [Required]
    [Description("The Flyte blob format: PyTorchTensor, PyTorchModule or PyTorchCheckpoint; TorchFile for a torch.save archive found by its content in a blob of another format (a FlyteFile); TorchDirectory for a folder (a FlyteDirectory, URI ending in '/') holding torch.save files.")]
    public required FlyteBlobFormat Format { get; init; }
}

/// <summary>The Flyte node execution that wrote the artifact.</summary>
public sealed record FlyteProducer
{
    public string? Project { get; init; }

    public string? Domain { get; init; }

    [Description("Flyte execution id (the pod label execution-id).")]
    public string? Execution { get; init; }

    [Description("Node id (the pod label node-id).")]
    public string? Node { get; init; }

    [Description("Task name (the pod label task-name).")]
    public string? Task { get; init; }

    [Description("The output name in the task's outputs LiteralMap.")]
    public string? Output { get; init; }
}

/// <summary>Flyte's PyTorch blob formats.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<FlyteBlobFormat>))]
public enum FlyteBlobFormat
{
    PyTorchTensor,
    PyTorchModule,
    PyTorchCheckpoint,

    /// <summary>A torch.save archive in a blob of another format (a FlyteFile: "", pt, pth, ckpt, ...), found by its content.</summary>
    TorchFile,

    /// <summary>A folder (a FlyteDirectory, multipart blob; the URI ends with '/') holding torch.save files, found by their content.</summary>
    TorchDirectory,
}

/// <summary>What happens to converted variants when their artifact is deleted.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<VariantDeletionPolicy>))]
public enum VariantDeletionPolicy
{
    Delete,
    Retain,
}
