namespace TorchFerry.Format.Inspection;

/// <summary>One tensor reachable from the archive's root, as torch would rebuild it.</summary>
/// <param name="Path">Dotted path from the root, e.g. <c>module_state_dict.fc1.weight</c>; empty for a root tensor.</param>
/// <param name="Dtype">Torch dtype name without the <c>torch.</c> prefix.</param>
/// <param name="Shape">Size per dimension.</param>
/// <param name="Stride">Stride per dimension, in elements.</param>
/// <param name="StorageKey">Key of the storage (record <c>data/KEY</c>).</param>
/// <param name="StorageOffset">Offset into the storage, in elements.</param>
/// <param name="Location">Device the storage is recorded on.</param>
/// <param name="Bytes">Bytes of the tensor's elements (numel × element size).</param>
/// <param name="RequiresGrad">Whether the tensor requires grad.</param>
/// <param name="IsParameter">Whether it is an <c>nn.Parameter</c>.</param>
public sealed record TensorDescription(
    string Path,
    string Dtype,
    IReadOnlyList<long> Shape,
    IReadOnlyList<long> Stride,
    string StorageKey,
    long StorageOffset,
    string Location,
    long Bytes,
    bool RequiresGrad,
    bool IsParameter);
