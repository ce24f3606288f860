using System.Buffers.Binary;
using System.Text;

namespace TorchFerry.Format.Archive;

/// <summary>
/// The bytes torch's own writer (miniz in <c>PyTorchStreamWriter</c>) puts around each record:
/// a local header with a data-descriptor flag and an <c>FB</c> padding field that aligns the data
/// to 64 bytes, the data descriptor after the data, then a central directory and zip64 end
/// records. Pure functions of names, sizes, CRCs and offsets, so a writer can lay out an archive
/// before copying a byte (and copy records server-side).
/// </summary>
internal static class TorchZipLayout
{
    public const int Alignment = 64;

    /// <summary>Most extra padding a local header takes (its extra field's length is 16 bits).</summary>
    public const int MaxExtraPadding = 32768;
    private const ushort Flags = 0x0808; // data descriptor + UTF-8 names, as torch writes
    private const uint Max32 = uint.MaxValue;

    /// <summary>Whether a record of this size at this offset needs zip64 fields.</summary>
    public static bool NeedsZip64(long size, long offset) => size >= Max32 || offset >= Max32;

    /// <summary>
    /// A local header padded so the data starts on a 64-byte boundary. As miniz streams a record,
    /// the header's version and sizes are 0 (the sizes follow in the data descriptor), and a zip64
    /// field is there when the size or offset needs one: the size and a compressed size of 0 (not
    /// yet known), then the offset, each only where needed.
    /// </summary>
    /// <param name="name">The record's name.</param>
    /// <param name="offset">Where the header starts.</param>
    /// <param name="size">The record's size.</param>
    /// <param name="extraPadding">More padding, a multiple of <see cref="Alignment"/>: moves the data and what follows (to a file system block boundary, say).</param>
    public static byte[] LocalHeader(string name, long offset, long size, int extraPadding = 0)
    {
        if (extraPadding < 0 || extraPadding % Alignment != 0 || extraPadding > MaxExtraPadding)
        {
            throw new ArgumentOutOfRangeException(nameof(extraPadding), extraPadding, $"a multiple of {Alignment} up to {MaxExtraPadding}");
        }

        var nameBytes = Encoding.UTF8.GetBytes(name);
        var zip64Length = Zip64ExtraLength(size, offset);
        var fixedLength = 30 + nameBytes.Length + zip64Length + 4;
        var padding = (int)((Alignment - ((offset + fixedLength) % Alignment)) % Alignment) + extraPadding;
        var header = new byte[fixedLength + padding];
        var span = header.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, 0x04034b50);
        BinaryPrimitives.WriteUInt16LittleEndian(span[6..], Flags);
        BinaryPrimitives.WriteUInt16LittleEndian(span[26..], (ushort)nameBytes.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(span[28..], (ushort)(zip64Length + 4 + padding));
        nameBytes.CopyTo(span[30..]);
        var extra = span[(30 + nameBytes.Length)..];
        if (zip64Length > 0)
        {
            WriteZip64Extra(extra, size, compressedSize: 0, offset);
            extra = extra[zip64Length..];
        }

        extra[0] = (byte)'F';
        extra[1] = (byte)'B';
        BinaryPrimitives.WriteUInt16LittleEndian(extra[2..], (ushort)padding);
        extra.Slice(4, padding).Fill((byte)'Z');
        return header;
    }

    public static byte[] DataDescriptor(uint crc, long size, bool zip64)
    {
        var descriptor = new byte[zip64 ? 24 : 16];
        var span = descriptor.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, 0x08074b50);
        BinaryPrimitives.WriteUInt32LittleEndian(span[4..], crc);
        if (zip64)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(span[8..], (ulong)size);
            BinaryPrimitives.WriteUInt64LittleEndian(span[16..], (ulong)size);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(span[8..], (uint)size);
            BinaryPrimitives.WriteUInt32LittleEndian(span[12..], (uint)size);
        }

        return descriptor;
    }

    /// <summary>The central directory and end records for records written at their offsets.</summary>
    public static byte[] Directory(IReadOnlyList<WrittenRecord> records, long directoryOffset)
    {
        using var output = new MemoryStream();
        Span<byte> header = stackalloc byte[46];
        Span<byte> zip64Extra = stackalloc byte[28];
        foreach (var record in records)
        {
            var nameBytes = Encoding.UTF8.GetBytes(record.Name);
            var bigSize = record.Size >= Max32;
            var bigOffset = record.Offset >= Max32;
            var extraLength = Zip64ExtraLength(record.Size, record.Offset);
            if (extraLength > 0)
            {
                WriteZip64Extra(zip64Extra, record.Size, record.Size, record.Offset);
            }

            header.Clear(); // versions made by and needed are 0, zip64 or not, as torch writes them
            BinaryPrimitives.WriteUInt32LittleEndian(header, 0x02014b50);
            BinaryPrimitives.WriteUInt16LittleEndian(header[8..], record.Flags);
            BinaryPrimitives.WriteUInt32LittleEndian(header[16..], record.Crc32);
            BinaryPrimitives.WriteUInt32LittleEndian(header[20..], bigSize ? Max32 : (uint)record.Size);
            BinaryPrimitives.WriteUInt32LittleEndian(header[24..], bigSize ? Max32 : (uint)record.Size);
            BinaryPrimitives.WriteUInt16LittleEndian(header[28..], (ushort)nameBytes.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(header[30..], (ushort)extraLength);
            BinaryPrimitives.WriteUInt32LittleEndian(header[42..], bigOffset ? Max32 : (uint)record.Offset);
            output.Write(header);
            output.Write(nameBytes);
            output.Write(zip64Extra[..extraLength]);
        }

        var directorySize = output.Length;
        var zip64EndOffset = directoryOffset + directorySize;
        Span<byte> end = stackalloc byte[56 + 20 + 22];
        end.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(end, 0x06064b50);
        BinaryPrimitives.WriteUInt64LittleEndian(end[4..], 44);
        BinaryPrimitives.WriteUInt16LittleEndian(end[12..], 0x031e);
        BinaryPrimitives.WriteUInt16LittleEndian(end[14..], 45);
        BinaryPrimitives.WriteUInt64LittleEndian(end[24..], (ulong)records.Count);
        BinaryPrimitives.WriteUInt64LittleEndian(end[32..], (ulong)records.Count);
        BinaryPrimitives.WriteUInt64LittleEndian(end[40..], (ulong)directorySize);
        BinaryPrimitives.WriteUInt64LittleEndian(end[48..], (ulong)directoryOffset);
        var locator = end[56..];
        BinaryPrimitives.WriteUInt32LittleEndian(locator, 0x07064b50);
        BinaryPrimitives.WriteUInt64LittleEndian(locator[8..], (ulong)zip64EndOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(locator[16..], 1);
        var eocd = end[76..];
        BinaryPrimitives.WriteUInt32LittleEndian(eocd, 0x06054b50);
        var count = records.Count >= 0xFFFF ? (ushort)0xFFFF : (ushort)records.Count;
        BinaryPrimitives.WriteUInt16LittleEndian(eocd[8..], count);
        BinaryPrimitives.WriteUInt16LittleEndian(eocd[10..], count);
        BinaryPrimitives.WriteUInt32LittleEndian(eocd[12..], directorySize >= Max32 ? Max32 : (uint)directorySize);
        BinaryPrimitives.WriteUInt32LittleEndian(eocd[16..], directoryOffset >= Max32 ? Max32 : (uint)directoryOffset);
        output.Write(end);
        return output.ToArray();
    }

    // The zip64 extra field's length for a record of this size at this offset: 0 when neither needs one.
    private static int Zip64ExtraLength(long size, long offset) =>
        size >= Max32 || offset >= Max32 ? 4 + (size >= Max32 ? 16 : 0) + (offset >= Max32 ? 8 : 0) : 0;

    // The zip64 extra field (tag 1): the size and compressed size where the size needs them, then the
    // offset where it needs it, as the zip format orders them.
    private static void WriteZip64Extra(Span<byte> into, long size, long compressedSize, long offset)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(into, 0x0001);
        BinaryPrimitives.WriteUInt16LittleEndian(into[2..], (ushort)(Zip64ExtraLength(size, offset) - 4));
        var fields = into[4..];
        if (size >= Max32)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(fields, (ulong)size);
            BinaryPrimitives.WriteUInt64LittleEndian(fields[8..], (ulong)compressedSize);
            fields = fields[16..];
        }

        if (offset >= Max32)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(fields, (ulong)offset);
        }
    }
}

/// <summary>A record as written: its name, local header offset, size (stored, so one size) and CRC.</summary>
internal readonly record struct WrittenRecord(string Name, long Offset, long Size, uint Crc32, ushort Flags = 0x0808);
