using System.Buffers.Binary;
using System.Text;

namespace TorchFerry.Format.Archive;

/// <summary>
/// Reads a zip archive's central directory (zip64 included) and resolves where each record's data
/// starts. Only the tail of the archive and the local headers are read, in a few coalesced ranges,
/// so it suits ranged reads from an object store as well as local files.
/// </summary>
internal static class ZipDirectoryReader
{
    private const uint EndOfCentralDirectorySignature = 0x06054b50;
    private const uint Zip64EndOfCentralDirectorySignature = 0x06064b50;
    private const uint Zip64LocatorSignature = 0x07064b50;
    private const uint CentralHeaderSignature = 0x02014b50;
    private const uint LocalHeaderSignature = 0x04034b50;
    private const int EndOfCentralDirectorySize = 22;
    private const int MaxCommentSize = 0xFFFF;
    private const int LocalHeaderWindow = 64 * 1024;

    // The fixed part of a local header: signature to extra length.
    private const int LocalHeaderSize = 30;

    // Windows of local headers read at once (an object store answers each after its latency).
    private const int ParallelHeaderReads = 16;

    public static async Task<(IReadOnlyList<ZipEntry> Entries, long DirectoryOffset)> ReadAsync(IRandomAccessSource source, ArchiveLimits limits, CancellationToken cancellationToken)
    {
        var (directoryOffset, directorySize, entryCount) = await ReadEndRecordAsync(source, cancellationToken).ConfigureAwait(false);
        if (directorySize > limits.MaxCentralDirectoryBytes)
        {
            throw new ArtifactFormatException(FormatErrorKind.LimitExceeded, $"{source.Name}: central directory of {directorySize} bytes exceeds the limit of {limits.MaxCentralDirectoryBytes} bytes");
        }

        if (entryCount > limits.MaxEntries)
        {
            throw new ArtifactFormatException(FormatErrorKind.LimitExceeded, $"{source.Name}: {entryCount} records exceed the limit of {limits.MaxEntries}");
        }

        if (directoryOffset < 0 || directoryOffset + directorySize > source.Length)
        {
            throw new ArtifactFormatException(FormatErrorKind.Truncated, $"{source.Name}: central directory lies outside the file (truncated or corrupt archive)");
        }

        var directory = new byte[directorySize];
        await source.ReadExactlyAsync(directoryOffset, directory, cancellationToken).ConfigureAwait(false);
        var headers = ParseCentralDirectory(source, directory, entryCount, directoryOffset);
        return (await ResolveDataOffsetsAsync(source, headers, directoryOffset, cancellationToken).ConfigureAwait(false), directoryOffset);
    }

    private static async Task<(long Offset, long Size, long Count)> ReadEndRecordAsync(IRandomAccessSource source, CancellationToken cancellationToken)
    {
        if (source.Length < EndOfCentralDirectorySize)
        {
            throw new ArtifactFormatException(FormatErrorKind.Truncated, $"{source.Name}: file of {source.Length} bytes is too short to be a zip archive (truncated?)");
        }

        var tailLength = (int)Math.Min(source.Length, EndOfCentralDirectorySize + MaxCommentSize + 20);
        var tailStart = source.Length - tailLength;
        var tail = new byte[tailLength];
        await source.ReadExactlyAsync(tailStart, tail, cancellationToken).ConfigureAwait(false);

        var eocd = -1;
        for (var i = tailLength - EndOfCentralDirectorySize; i >= 0; i--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(i)) == EndOfCentralDirectorySignature
                && i + EndOfCentralDirectorySize + BinaryPrimitives.ReadUInt16LittleEndian(tail.AsSpan(i + 20)) == tailLength)
            {
                eocd = i;
                break;
            }
        }

        if (eocd < 0)
        {
            throw new ArtifactFormatException(FormatErrorKind.Corrupt, $"{source.Name}: no zip end-of-central-directory record (truncated or corrupt archive)");
        }

        var record = tail.AsSpan(eocd);
        long count = BinaryPrimitives.ReadUInt16LittleEndian(record[10..]);
        long size = BinaryPrimitives.ReadUInt32LittleEndian(record[12..]);
        long offset = BinaryPrimitives.ReadUInt32LittleEndian(record[16..]);

        var locator = eocd - 20;
        if (locator >= 0 && BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(locator)) == Zip64LocatorSignature)
        {
            var zip64Offset = (long)BinaryPrimitives.ReadUInt64LittleEndian(tail.AsSpan(locator + 8));
            if (zip64Offset < 0 || zip64Offset + 56 > source.Length)
            {
                throw new ArtifactFormatException(FormatErrorKind.Truncated, $"{source.Name}: zip64 end record lies outside the file (truncated or corrupt archive)");
            }

            var zip64 = new byte[56];
            await source.ReadExactlyAsync(zip64Offset, zip64, cancellationToken).ConfigureAwait(false);
            if (BinaryPrimitives.ReadUInt32LittleEndian(zip64) != Zip64EndOfCentralDirectorySignature)
            {
                throw new ArtifactFormatException(FormatErrorKind.Corrupt, $"{source.Name}: corrupt zip64 end record");
            }

            count = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(zip64.AsSpan(32)));
            size = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(zip64.AsSpan(40)));
            offset = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(zip64.AsSpan(48)));
        }

        return (offset, size, count);
    }

    private static List<(string Name, ushort Method, ushort Flags, uint Crc, long Compressed, long Uncompressed, long LocalOffset)> ParseCentralDirectory(
        IRandomAccessSource source, byte[] directory, long entryCount, long directoryOffset)
    {
        var entries = new List<(string, ushort, ushort, uint, long, long, long)>((int)Math.Min(entryCount, 100_000));
        var span = directory.AsSpan();
        var pos = 0;
        for (long i = 0; i < entryCount; i++)
        {
            if (pos + 46 > span.Length || BinaryPrimitives.ReadUInt32LittleEndian(span[pos..]) != CentralHeaderSignature)
            {
                throw new ArtifactFormatException(FormatErrorKind.Corrupt, $"{source.Name}: corrupt central directory at record {i}");
            }

            var flags = BinaryPrimitives.ReadUInt16LittleEndian(span[(pos + 8)..]);
            var method = BinaryPrimitives.ReadUInt16LittleEndian(span[(pos + 10)..]);
            var crc = BinaryPrimitives.ReadUInt32LittleEndian(span[(pos + 16)..]);
            long compressed = BinaryPrimitives.ReadUInt32LittleEndian(span[(pos + 20)..]);
            long uncompressed = BinaryPrimitives.ReadUInt32LittleEndian(span[(pos + 24)..]);
            var nameLength = BinaryPrimitives.ReadUInt16LittleEndian(span[(pos + 28)..]);
            var extraLength = BinaryPrimitives.ReadUInt16LittleEndian(span[(pos + 30)..]);
            var commentLength = BinaryPrimitives.ReadUInt16LittleEndian(span[(pos + 32)..]);
            long localOffset = BinaryPrimitives.ReadUInt32LittleEndian(span[(pos + 42)..]);
            var end = pos + 46 + nameLength + extraLength + commentLength;
            if (end > span.Length)
            {
                throw new ArtifactFormatException(FormatErrorKind.Corrupt, $"{source.Name}: corrupt central directory at record {i}");
            }

            if ((flags & 0x1) != 0)
            {
                throw new ArtifactFormatException(FormatErrorKind.Unsupported, $"{source.Name}: record {i} is encrypted; torch.save archives never are");
            }

            var name = Encoding.UTF8.GetString(span.Slice(pos + 46, nameLength));
            ApplyZip64Extra(span.Slice(pos + 46 + nameLength, extraLength), ref uncompressed, ref compressed, ref localOffset);
            if (compressed < 0 || uncompressed < 0 || localOffset < 0 || checked(localOffset + 30 + compressed) > directoryOffset)
            {
                throw new ArtifactFormatException(FormatErrorKind.Corrupt, $"{source.Name}: record '{InputText.Printable(name)}' points outside the archive (truncated or corrupt)");
            }

            entries.Add((name, method, flags, crc, compressed, uncompressed, localOffset));
            pos = end;
        }

        return entries;
    }

    private static void ApplyZip64Extra(ReadOnlySpan<byte> extra, ref long uncompressed, ref long compressed, ref long localOffset)
    {
        while (extra.Length >= 4)
        {
            var id = BinaryPrimitives.ReadUInt16LittleEndian(extra);
            var length = BinaryPrimitives.ReadUInt16LittleEndian(extra[2..]);
            if (4 + length > extra.Length)
            {
                return;
            }

            if (id == 0x0001)
            {
                var field = extra.Slice(4, length);
                if (uncompressed == uint.MaxValue && field.Length >= 8)
                {
                    uncompressed = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(field));
                    field = field[8..];
                }

                if (compressed == uint.MaxValue && field.Length >= 8)
                {
                    compressed = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(field));
                    field = field[8..];
                }

                if (localOffset == uint.MaxValue && field.Length >= 8)
                {
                    localOffset = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(field));
                }

                return;
            }

            extra = extra[(4 + length)..];
        }
    }

    private static async Task<IReadOnlyList<ZipEntry>> ResolveDataOffsetsAsync(
        IRandomAccessSource source,
        List<(string Name, ushort Method, ushort Flags, uint Crc, long Compressed, long Uncompressed, long LocalOffset)> headers,
        long directoryOffset,
        CancellationToken cancellationToken)
    {
        // Only each local header's fixed 30 bytes are needed (its name and extra lengths). Headers
        // close together share one read of up to 64 KiB; a window ends with its last header, not
        // in a record's data (a 10 GiB checkpoint would otherwise move 10 MiB for its headers).
        // Windows are read side by side, so an object store's latency is paid a few times, not
        // once per record; errors are reported for the first header in file order, as if read in turn.
        var order = Enumerable.Range(0, headers.Count).OrderBy(i => headers[i].LocalOffset).ToArray();
        var windows = new List<(int First, int Last)>();
        for (var n = 0; n < order.Length;)
        {
            var last = n;
            while (last + 1 < order.Length && headers[order[last + 1]].LocalOffset - headers[order[n]].LocalOffset + LocalHeaderSize <= LocalHeaderWindow)
            {
                last++;
            }

            windows.Add((n, last));
            n = last + 1;
        }

        var resolved = new ZipEntry[headers.Count];
        var failures = new ArtifactFormatException?[windows.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, windows.Count),
            new ParallelOptions { MaxDegreeOfParallelism = ParallelHeaderReads, CancellationToken = cancellationToken },
            async (w, token) =>
            {
                try
                {
                    await ResolveWindowAsync(source, headers, order, windows[w], directoryOffset, resolved, token).ConfigureAwait(false);
                }
                catch (ArtifactFormatException e)
                {
                    failures[w] = e;
                }
            }).ConfigureAwait(false);
        return failures.FirstOrDefault(f => f is not null) is { } failure ? throw failure : resolved;
    }

    private static async Task ResolveWindowAsync(
        IRandomAccessSource source,
        List<(string Name, ushort Method, ushort Flags, uint Crc, long Compressed, long Uncompressed, long LocalOffset)> headers,
        int[] order,
        (int First, int Last) span,
        long directoryOffset,
        ZipEntry[] resolved,
        CancellationToken cancellationToken)
    {
        var start = headers[order[span.First]].LocalOffset;
        var available = Math.Min(headers[order[span.Last]].LocalOffset + LocalHeaderSize, directoryOffset) - start;
        var window = new byte[Math.Max(0, available)];
        await source.ReadExactlyAsync(start, window, cancellationToken).ConfigureAwait(false);
        for (var n = span.First; n <= span.Last; n++)
        {
            var i = order[n];
            var h = headers[i];
            var at = h.LocalOffset - start;
            if (at + LocalHeaderSize > window.Length)
            {
                throw new ArtifactFormatException(FormatErrorKind.Corrupt, $"{source.Name}: local header of '{InputText.Printable(h.Name)}' runs into the central directory (corrupt archive)");
            }

            var fixedPart = window.AsSpan((int)at, LocalHeaderSize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(fixedPart) != LocalHeaderSignature)
            {
                throw new ArtifactFormatException(FormatErrorKind.Corrupt, $"{source.Name}: record '{InputText.Printable(h.Name)}' has no local header at offset {h.LocalOffset} (corrupt archive)");
            }

            var nameLength = BinaryPrimitives.ReadUInt16LittleEndian(fixedPart[26..]);
            var extraLength = BinaryPrimitives.ReadUInt16LittleEndian(fixedPart[28..]);
            var dataOffset = h.LocalOffset + LocalHeaderSize + nameLength + extraLength;
            if (checked(dataOffset + h.Compressed) > directoryOffset)
            {
                throw new ArtifactFormatException(FormatErrorKind.Truncated, $"{source.Name}: data of '{InputText.Printable(h.Name)}' runs past the end of the records (truncated or corrupt archive)");
            }

            resolved[i] = new ZipEntry(h.Name, h.Method, h.Crc, h.Compressed, h.Uncompressed, h.LocalOffset, dataOffset) { Flags = h.Flags };
        }
    }
}
