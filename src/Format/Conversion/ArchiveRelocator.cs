using System.Buffers;
using System.IO.Hashing;
using TorchFerry.Format.Archive;
using TorchFerry.Format.Inspection;
using TorchFerry.Format.Pickle;

namespace TorchFerry.Format.Conversion;

/// <summary>
/// Writes a copy of a torch.save archive whose storages are recorded on other devices. Only
/// <c>data.pkl</c> changes (its location strings, spliced); every storage record is copied byte
/// for byte into torch's stored, 64-byte aligned layout. An archive already in that layout has
/// everything after <c>data.pkl</c> copied as one range (by the kernel or the object store where
/// the sink can); any other is rewritten record by record, inflating deflated records. Memory use
/// is one copy buffer plus the pickle.
/// </summary>
public static class ArchiveRelocator
{
    private const int BufferSize = 1 << 20;

    /// <summary>Writes the relocated archive to a stream, front to back.</summary>
    public static Task<RelocationReport> RelocateAsync(
        TorchArchive archive,
        DeviceMap map,
        Stream output,
        IProgress<long>? progress = null,
        RelocationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= RelocationOptions.Default;
        return RelocateAsync(archive, map, new StreamArchiveSink(output, options.KernelCopyThreshold, startWriteback: options.Durable), progress, options, cancellationToken);
    }

    /// <summary>Writes the relocated archive to <paramref name="sink"/>, front to back.</summary>
    public static async Task<RelocationReport> RelocateAsync(
        TorchArchive archive,
        DeviceMap map,
        IArchiveSink sink,
        IProgress<long>? progress = null,
        RelocationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(archive);
        ArgumentNullException.ThrowIfNull(map);
        ArgumentNullException.ThrowIfNull(sink);
        options ??= RelocationOptions.Default;

        // Such functions may carry a device as an argument rather than a storage location,
        // so relocating their storages alone could leave a tensor on the old device.
        if (ArtifactInspector.FindUnsupported(archive) is [var unsupported, ..])
        {
            throw new ArtifactFormatException(FormatErrorKind.Unsupported, 
                $"{archive.Source.Name}: '{(unsupported.Path.Length == 0 ? "<root>" : unsupported.Path)}' is built by {unsupported.Function}, which TorchFerry does not support yet; nothing was converted");
        }

        var (pickle, weightsOnlyChanges) = options.WeightsOnly
            ? WeightsOnlyRewriter.Rewrite(archive.Pickle, WeightsOnlyAllowlist.Newest, archive.Source.Name)
            : (archive.Pickle, null);
        var writer = new Writer(archive, pickle, sink, progress, options, cancellationToken);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            var tail = TailLayout.TryCreate(archive);
            var records = tail is null
                ? await writer.WriteRecordByRecordAsync(map, buffer).ConfigureAwait(false)
                : await writer.WriteWithTailAsync(map, tail, buffer).ConfigureAwait(false);
            await sink.WriteAsync(TorchZipLayout.Directory(records, sink.Position), cancellationToken).ConfigureAwait(false);
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
            sink.Position,
            writer.Copied)
        {
            WeightsOnlyChanges = weightsOnlyChanges,
            RecordBytesCloned = writer.Cloned,
        };
    }

    private static long Modulo(long value, long modulus) => ((value % modulus) + modulus) % modulus;

    private static Dictionary<string, int> CountBy(IEnumerable<string> locations) =>
        locations.GroupBy(l => l, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

    private sealed class Writer(TorchArchive archive, PickleDocument document, IArchiveSink sink, IProgress<long>? progress, RelocationOptions options, CancellationToken cancellationToken)
    {
        private readonly IRandomAccessSource source = archive.Source;

        public long Copied { get; private set; }

        public long Cloned { get; private set; }

        public async Task<List<WrittenRecord>> WriteRecordByRecordAsync(DeviceMap map, byte[] buffer)
        {
            var (pickle, _) = PickleRewriter.Rewrite(document, map.Map);
            var records = new List<WrittenRecord>(archive.Entries.Count);
            foreach (var entry in archive.Entries)
            {
                var isPickle = ReferenceEquals(entry, archive.PickleEntry);
                var size = isPickle ? pickle.Length : entry.UncompressedSize;
                var crc = isPickle ? Crc32.HashToUInt32(pickle) : entry.Crc32;
                var offset = sink.Position;
                var zip64 = TorchZipLayout.NeedsZip64(size, offset);
                await sink.WriteAsync(TorchZipLayout.LocalHeader(entry.Name, offset, size), cancellationToken).ConfigureAwait(false);
                if (isPickle)
                {
                    await sink.WriteAsync(pickle, cancellationToken).ConfigureAwait(false);
                }
                else if (entry.Method == ZipEntry.Stored)
                {
                    await CopyRangeAsync(entry.DataOffset, entry.UncompressedSize, [entry], buffer).ConfigureAwait(false);
                }
                else
                {
                    await InflateAsync(entry, buffer).ConfigureAwait(false);
                }

                await sink.WriteAsync(TorchZipLayout.DataDescriptor(crc, size, zip64), cancellationToken).ConfigureAwait(false);
                records.Add(new WrittenRecord(entry.Name, offset, size, crc));
            }

            return records;
        }

        public async Task<List<WrittenRecord>> WriteWithTailAsync(DeviceMap map, TailLayout tail, byte[] buffer)
        {
            // The tail must land at its old offset modulo 64 to keep every record aligned (the
            // pickle is padded), and modulo the sink's copy alignment (a file system block) to be
            // cloned rather than copied (data.pkl's header is padded by whole 64-byte steps).
            var (pickle, _) = PickleRewriter.Rewrite(document, map.Map);
            var header = TorchZipLayout.LocalHeader(archive.PickleEntry.Name, 0, pickle.Length);
            var descriptorLength = TorchZipLayout.DataDescriptor(0, 0, zip64: false).Length;
            var padding = PickleRewriter.PaddingFor((int)Modulo(tail.Start - header.Length - pickle.Length - descriptorLength, TorchZipLayout.Alignment));

            if (padding > 0)
            {
                (pickle, _) = PickleRewriter.Rewrite(document, map.Map, padding);
            }

            var alignment = sink.CopyAlignment is var a && a % TorchZipLayout.Alignment == 0 && a <= TorchZipLayout.MaxExtraPadding ? a : TorchZipLayout.Alignment;
            if (Modulo(tail.Start - header.Length - pickle.Length - descriptorLength, alignment) is var extra and > 0)
            {
                header = TorchZipLayout.LocalHeader(archive.PickleEntry.Name, 0, pickle.Length, (int)extra);
            }

            var crc = Crc32.HashToUInt32(pickle);
            await sink.WriteAsync(header, cancellationToken).ConfigureAwait(false);
            await sink.WriteAsync(pickle, cancellationToken).ConfigureAwait(false);
            await sink.WriteAsync(TorchZipLayout.DataDescriptor(crc, pickle.Length, zip64: false), cancellationToken).ConfigureAwait(false);
            var shift = sink.Position - tail.Start;
            var records = new List<WrittenRecord>(archive.Entries.Count)
            {
                new(archive.PickleEntry.Name, 0, pickle.Length, crc),
            };
            records.AddRange(tail.Records.Select(e => new WrittenRecord(e.Name, e.LocalHeaderOffset + shift, e.UncompressedSize, e.Crc32, e.Flags)));
            await CopyRangeAsync(tail.Start, tail.Length, tail.Records, buffer).ConfigureAwait(false);
            return records;
        }

        /// <summary>
        /// Copies a source range holding whole stored records: shared by the sink where it can (a
        /// clone, whose CRCs are read only when asked: it is the source's own blocks), else copied by
        /// the sink with the CRCs checked meanwhile where reading back is cheap (the kernel copies on
        /// one core, this process reads the page cache on another), else streamed through this process.
        /// </summary>
        private async Task CopyRangeAsync(long start, long length, IReadOnlyList<ZipEntry> records, byte[] buffer)
        {
            var clonedBefore = sink.BytesCloned;
            if (await sink.TryShareRangeAsync(source, start, length, cancellationToken).ConfigureAwait(false))
            {
                if (options.VerifyChecksums && options.VerifyClones)
                {
                    await VerifyAllAsync(records, cancellationToken).ConfigureAwait(false);
                }

                Cloned += sink.BytesCloned - clonedBefore;
                Copied += records.Sum(r => r.UncompressedSize);
                progress?.Report(Copied);
                return;
            }

            using var alongside = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var verifying = options.VerifyChecksums && sink.CanVerifyCopies ? Task.Run(() => VerifyAllAsync(records, alongside.Token), alongside.Token) : null;
            bool copied;
            try
            {
                copied = await sink.TryCopyRangeAsync(source, start, length, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await StopAsync(verifying, alongside).ConfigureAwait(false);
                throw;
            }

            if (copied)
            {
                if (verifying is not null)
                {
                    await verifying.ConfigureAwait(false);
                }

                Copied += records.Sum(r => r.UncompressedSize);
                progress?.Report(Copied);
                return;
            }

            // Streamed below, its CRC computed on the way.
            await StopAsync(verifying, alongside).ConfigureAwait(false);
            var position = start;
            foreach (var record in records)
            {
                await StreamAsync(position, record.DataOffset - position, null, buffer).ConfigureAwait(false);
                var crc = new Crc32();
                await StreamAsync(record.DataOffset, record.UncompressedSize, crc, buffer).ConfigureAwait(false);
                CheckCrc(record, crc);
                position = record.DataOffset + record.UncompressedSize;
            }

            await StreamAsync(position, start + length - position, null, buffer).ConfigureAwait(false);
        }

        private static async Task StopAsync(Task? verifying, CancellationTokenSource alongside)
        {
            if (verifying is null)
            {
                return;
            }

            await alongside.CancelAsync().ConfigureAwait(false);
            try
            {
                await verifying.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopped: its answer is not needed.
            }
        }

        private async Task VerifyAllAsync(IReadOnlyList<ZipEntry> records, CancellationToken token)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
            try
            {
                foreach (var record in records)
                {
                    await VerifyAsync(record, buffer, token).ConfigureAwait(false);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        private async Task StreamAsync(long offset, long length, Crc32? crc, byte[] buffer)
        {
            if (length <= 0)
            {
                return;
            }

            await using var content = source.OpenRange(offset, length);
            await PumpAsync(content, length, crc, $"bytes {offset} to {offset + length}", buffer).ConfigureAwait(false);
        }

        private async Task InflateAsync(ZipEntry entry, byte[] buffer)
        {
            var crc = new Crc32();
            try
            {
                await using var content = TorchArchive.OpenInflated(source, entry);
                await PumpAsync(content, entry.UncompressedSize, crc, $"record '{entry.Name}'", buffer).ConfigureAwait(false);
                if (await content.ReadAsync(buffer.AsMemory(0, 1), cancellationToken).ConfigureAwait(false) > 0)
                {
                    throw TorchArchive.ExpandsBeyondDeclared(source, entry);
                }
            }
            catch (InvalidDataException e)
            {
                throw TorchArchive.NotDeflateData(source, entry, e);
            }

            CheckCrc(entry, crc);
        }

        private async Task PumpAsync(Stream content, long length, Crc32? crc, string what, byte[] buffer)
        {
            for (long done = 0; done < length;)
            {
                var n = await content.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, length - done)), cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    throw new ArtifactFormatException(FormatErrorKind.Truncated, $"{source.Name}: {what}: source ran out after {done} of {length} bytes (truncated or corrupt archive)");
                }

                crc?.Append(buffer.AsSpan(0, n));
                await sink.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                done += n;
                if (crc is not null)
                {
                    Copied += n;
                    progress?.Report(Copied);
                }
            }
        }

        private async Task VerifyAsync(ZipEntry record, byte[] buffer, CancellationToken token)
        {
            var crc = new Crc32();
            for (long done = 0; done < record.UncompressedSize;)
            {
                var n = (int)Math.Min(buffer.Length, record.UncompressedSize - done);
                await source.ReadExactlyAsync(record.DataOffset + done, buffer.AsMemory(0, n), token).ConfigureAwait(false);
                crc.Append(buffer.AsSpan(0, n));
                done += n;
            }

            CheckCrc(record, crc);
        }

        private void CheckCrc(ZipEntry record, Crc32 crc)
        {
            if (options.VerifyChecksums && crc.GetCurrentHashAsUInt32() != record.Crc32)
            {
                throw new ArtifactFormatException(FormatErrorKind.Corrupt, $"{source.Name}: record '{record.Name}' fails its CRC check (corrupt archive)");
            }
        }
    }
}
