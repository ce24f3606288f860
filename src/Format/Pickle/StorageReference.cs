namespace TorchFerry.Format.Pickle;

/// <summary>One storage of the archive: what its persistent id says and the record holding it.</summary>
internal sealed class StorageReference(string key, string storageType, TorchDtype dtype, string location, long numel)
{
    public string Key { get; } = key;

    /// <summary>The pickled storage class, e.g. <c>torch.FloatStorage</c>.</summary>
    public string StorageType { get; } = storageType;

    public TorchDtype Dtype { get; } = dtype;

    public string Location { get; } = location;

    /// <summary>Elements (bytes for <c>torch.UntypedStorage</c>).</summary>
    public long Numel { get; } = numel;

    public long ByteLength => checked(Numel * Dtype.ElementSize);
}
