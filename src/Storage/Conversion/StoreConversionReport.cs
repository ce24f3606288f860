using TorchFerry.Format.Conversion;

namespace TorchFerry.Storage.Conversion;

/// <summary>What a conversion between stores did, and how many bytes it moved.</summary>
/// <param name="Relocation">What changed in the archive.</param>
/// <param name="Source">The source as read (its ETag was the same before and after).</param>
/// <param name="Destination">The destination as the store reports it.</param>
/// <param name="BytesRead">Bytes fetched from the source through this process.</param>
/// <param name="BytesUploaded">Bytes sent to the destination through this process.</param>
/// <param name="BytesCopiedByStore">Bytes the store or kernel copied without them passing through this process.</param>
public sealed record StoreConversionReport(
    RelocationReport Relocation,
    ObjectInfo Source,
    ObjectInfo Destination,
    long BytesRead,
    long BytesUploaded,
    long BytesCopiedByStore)
{
    /// <summary>Bytes that passed through this process, both ways.</summary>
    public long BytesThroughProcess => BytesRead + BytesUploaded;
}
