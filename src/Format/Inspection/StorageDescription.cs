namespace TorchFerry.Format.Inspection;

/// <summary>One storage record of the archive.</summary>
/// <param name="Key">Storage key.</param>
/// <param name="StorageType">Pickled storage class, e.g. <c>torch.FloatStorage</c>.</param>
/// <param name="Dtype">Element dtype of the storage.</param>
/// <param name="Location">Device it is recorded on.</param>
/// <param name="Numel">Elements (bytes for <c>torch.UntypedStorage</c>).</param>
/// <param name="Bytes">Bytes of the record's content.</param>
/// <param name="Record">Name of the zip record.</param>
/// <param name="Compressed">Whether the record is deflated in the archive.</param>
/// <param name="Tensors">How many tensor paths view this storage (more than one: shared or tied).</param>
public sealed record StorageDescription(
    string Key,
    string StorageType,
    string Dtype,
    string Location,
    long Numel,
    long Bytes,
    string Record,
    bool Compressed,
    int Tensors);
