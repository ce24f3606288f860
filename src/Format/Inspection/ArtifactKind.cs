namespace TorchFerry.Format.Inspection;

/// <summary>What a torch.save archive holds, as Flyte's PyTorch types see it.</summary>
public enum ArtifactKind
{
    /// <summary>A single <c>torch.Tensor</c> (Flyte <c>PyTorchTensor</c>).</summary>
    Tensor,

    /// <summary>A whole <c>torch.nn.Module</c> object (Flyte <c>PyTorchModule</c>).</summary>
    Module,

    /// <summary>A dict of tensors, such as <c>model.state_dict()</c>.</summary>
    StateDict,

    /// <summary>flytekit's <c>PyTorchCheckpoint</c>: module and optimizer state dicts with flat hyperparameters.</summary>
    Checkpoint,

    /// <summary>Any other object graph holding tensors.</summary>
    Other,
}
