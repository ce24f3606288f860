namespace TorchFerry.Format.Archive;

/// <summary>One record of a zip archive as its central directory describes it.</summary>
/// <param name="Name">Full name inside the archive, e.g. <c>model/data/0</c>.</param>
/// <param name="Method">0 (stored) or 8 (deflated).</param>
/// <param name="Crc32">CRC-32 of the uncompressed data.</param>
/// <param name="CompressedSize">Bytes the record occupies in the archive.</param>
/// <param name="UncompressedSize">Bytes of the record's content.</param>
/// <param name="LocalHeaderOffset">Offset of the record's local header.</param>
/// <param name="DataOffset">Offset of the record's (possibly compressed) data.</param>
public sealed record ZipEntry(
    string Name,
    ushort Method,
    uint Crc32,
    long CompressedSize,
    long UncompressedSize,
    long LocalHeaderOffset,
    long DataOffset)
{
    public const ushort Stored = 0;

    /// <summary>The general-purpose flags (bit 3: sizes in a data descriptor; bit 11: UTF-8 name).</summary>
    public ushort Flags { get; init; }
    public const ushort Deflated = 8;
}
