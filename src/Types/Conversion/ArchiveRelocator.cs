using System.Buffers;
using System.IO.Hashing;
using TorchFerry.Archive;
using TorchFerry.Inspection;
using TorchFerry.Pickle;

namespace TorchFerry.Conversion;

/// <summary>
/// Writes a copy of a torch.save archive whose storages are recorded on other devices. Only
/// <c>data.pkl</c> changes (its location strings, spliced); every storage record is copied byte
/// for byte (inflated if the source was deflated) into torch's own stored, 64-byte aligned
/// layout, with CRCs checked on the way. Memory use is one copy buffer plus the pickle.
/// </summary>
public static class ArchiveRelocator
{
    private const int BufferSize = 1 << 20;

    /// <summary>Writes the relocated archive to <paramref name="output"/>, front to back.</summary>
    public static async Task<RelocationReport> RelocateAsync(
        TorchArchive archive,
        DeviceMap map,
        Stream output,
        IProgress<long>? progress = null,
        RelocationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= RelocationOptions.Default;
        ArgumentNullException.ThrowIfNull(archive);
        ArgumentNullException.ThrowIfNull(map);
        ArgumentNullException.ThrowIfNull(output);

        // Such functions may carry a device as an argument rather than a storage location,
        // so relocating their storages alone could leave a tensor on the old device.
        if (ArtifactInspector.FindUnsupported(archive) is [var unsupported, ..])
        {
            throw new ArchiveFormatException(
                $"{archive.Source.Name}: '{(unsupported.Path.Length == 0 ? "<root>" : unsupported.Path)}' is built by {unsupported.Function}, which TorchFerry does not support yet; nothing was converted");
        }

        var (pickle, _) = PickleRewriter.Rewrite(archive.Pickle, map.Map);
        var pickleCrc = Crc32.HashToUInt32(pickle);
        var records = new List<WrittenRecord>(archive.Entries.Count);
        long offset = 0, copied = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            foreach (var entry in archive.Entries)
            {
                var isPickle = ReferenceEquals(entry, archive.PickleEntry);
                var size = isPickle ? pickle.Length : entry.UncompressedSize;
                var crc = isPickle ? pickleCrc : entry.Crc32;
                var zip64 = TorchZipLayout.NeedsZip64(size, offset);
                var header = TorchZipLayout.LocalHeader(entry.Name, offset, zip64);
                await output.WriteAsync(header, cancellationToken).ConfigureAwait(false);
                if (isPickle)
                {
                    await output.WriteAsync(pickle, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    if (!await TryKernelCopyAsync(archive.Source, entry, output, buffer, options, cancellationToken).ConfigureAwait(false))
                    {
                        await CopyRecordAsync(archive.Source, entry, output, buffer, progress, copied, options.VerifyChecksums, cancellationToken).ConfigureAwait(false);
                    }

                    copied += size;
                    progress?.Report(copied);
                }

                var descriptor = TorchZipLayout.DataDescriptor(crc, size, zip64);
                await output.WriteAsync(descriptor, cancellationToken).ConfigureAwait(false);
                records.Add(new WrittenRecord(entry.Name, offset, size, crc));
                offset += header.Length + size + descriptor.Length;
            }

            var directory = TorchZipLayout.Directory(records, offset);
            await output.WriteAsync(directory, cancellationToken).ConfigureAwait(false);
            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            offset += directory.Length;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        var storages = archive.Pickle.Storages.Values.ToList();
        return new RelocationReport(
            storages.Count,
            storages.Count(s => map.Map(s.Location) != s.Location),
            CountBy(storages.Select(s => s.Location)),
            CountBy(storages.Select(s => map.Map(s.Location))),
            offset,
            copied);
    }

    /// <summary>
    /// File to file, a stored record is copied by the kernel (copy_file_range, as cp does) and,
    /// unless told otherwise, its CRC is then checked by reading the source from the page cache.
    /// </summary>
    private static async Task<bool> TryKernelCopyAsync(
        IRandomAccessSource source, ZipEntry entry, Stream output, byte[] buffer, RelocationOptions options, CancellationToken cancellationToken)
    {
        if (entry.Method != ZipEntry.Stored || source is not FileSource file || output is not FileStream destination || entry.UncompressedSize < options.KernelCopyThreshold)
        {
            return false;
        }

        cancellationToken.ThrowIfCancellationRequested();
        await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
        var position = destination.Position;
        if (!KernelCopy.TryCopy(file.Handle, entry.DataOffset, destination.SafeFileHandle, position, entry.UncompressedSize))
        {
            return false;
        }

        destination.Seek(entry.UncompressedSize, SeekOrigin.Current);
        if (options.VerifyChecksums)
        {
            var crc = new Crc32();
            for (long done = 0; done < entry.UncompressedSize;)
            {
                var n = (int)Math.Min(buffer.Length, entry.UncompressedSize - done);
                await source.ReadExactlyAsync(entry.DataOffset + done, buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                crc.Append(buffer.AsSpan(0, n));
                done += n;
            }

            if (crc.GetCurrentHashAsUInt32() != entry.Crc32)
            {
                throw new ArchiveFormatException($"{source.Name}: record '{entry.Name}' fails its CRC check (corrupt archive)");
            }
        }

        return true;
    }

    private static async Task CopyRecordAsync(
        IRandomAccessSource source, ZipEntry entry, Stream output, byte[] buffer, IProgress<long>? progress, long copiedBefore, bool verify, CancellationToken cancellationToken)
    {
        var crc = new Crc32();
        long done = 0;
        try
        {
            await using var content = TorchArchive.OpenContent(source, entry);
            while (done < entry.UncompressedSize)
            {
                var want = (int)Math.Min(buffer.Length, entry.UncompressedSize - done);
                var n = await content.ReadAsync(buffer.AsMemory(0, want), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    throw new ArchiveFormatException($"{source.Name}: record '{entry.Name}' ends after {done} of {entry.UncompressedSize} bytes (truncated or corrupt archive)");
                }

                crc.Append(buffer.AsSpan(0, n));
                await output.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                done += n;
                progress?.Report(copiedBefore + done);
            }

            if (entry.Method == ZipEntry.Deflated && await content.ReadAsync(buffer.AsMemory(0, 1), cancellationToken).ConfigureAwait(false) > 0)
            {
                throw new ArchiveFormatException($"{source.Name}: record '{entry.Name}' inflates beyond its declared {entry.UncompressedSize} bytes (corrupt archive or zip bomb)");
            }
        }
        catch (InvalidDataException e)
        {
            throw new ArchiveFormatException($"{source.Name}: record '{entry.Name}' is not valid deflate data (corrupt archive)", e);
        }

        if (verify && crc.GetCurrentHashAsUInt32() != entry.Crc32)
        {
            throw new ArchiveFormatException($"{source.Name}: record '{entry.Name}' fails its CRC check (corrupt archive)");
        }
    }

    private static Dictionary<string, int> CountBy(IEnumerable<string> locations) =>
        locations.GroupBy(l => l, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
}
