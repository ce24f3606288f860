using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace TorchFerry.Crds;

/// <summary>A namespaced custom resource of group torchferry.io, version v1alpha1.</summary>
public abstract class TorchFerryResource<TSpec, TStatus> : IKubernetesObject<V1ObjectMeta>, ISpec<TSpec>, IStatus<TStatus?>
    where TSpec : class
    where TStatus : class
{
    public const string Group = "torchferry.io";
    public const string Version = "v1alpha1";

    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = $"{Group}/{Version}";

    [JsonPropertyName("kind")]
    public abstract string Kind { get; set; }

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonPropertyName("spec")]
    public TSpec Spec { get; set; } = default!;

    [JsonPropertyName("status")]
    public TStatus? Status { get; set; }
}

/// <summary>A torch.Tensor or nn.Module output of a Flyte task (formats PyTorchTensor, PyTorchModule).</summary>
public sealed class TensorArtifact : TorchFerryResource<ArtifactSpec, ArtifactStatus>
{
    /// <summary>The resource name in API paths.</summary>
    public const string Plural = "tensorartifacts";

    public override string Kind { get; set; } = nameof(TensorArtifact);
}

/// <summary>A flytekit PyTorchCheckpoint output of a Flyte task.</summary>
public sealed class CheckpointArtifact : TorchFerryResource<ArtifactSpec, ArtifactStatus>
{
    /// <summary>The resource name in API paths.</summary>
    public const string Plural = "checkpointartifacts";

    public override string Kind { get; set; } = nameof(CheckpointArtifact);
}

/// <summary>Device requirements for the Flyte task pods it selects.</summary>
public sealed class DeviceProfile : TorchFerryResource<DeviceProfileSpec, DeviceProfileStatus>
{
    /// <summary>The resource name in API paths.</summary>
    public const string Plural = "deviceprofiles";

    public override string Kind { get; set; } = nameof(DeviceProfile);
}

/// <summary>Whether the operator accepted a DeviceProfile.</summary>
public sealed record DeviceProfileStatus
{
    public long? ObservedGeneration { get; init; }

    [ListMapKey("type")]
    public IReadOnlyList<Condition>? Conditions { get; init; }
}
