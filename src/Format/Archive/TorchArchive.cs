using System.IO.Compression;
using System.IO.Hashing;
using TorchFerry.Format.Pickle;

namespace TorchFerry.Format.Archive;

/// <summary>
/// An opened torch.save archive: its records, root folder and parsed <c>data.pkl</c>, checked
/// for consistency (every storage has a record of the right size). Nothing is loaded but the
/// directory and the pickle.
/// </summary>
public sealed class TorchArchive
{
    private readonly Dictionary<string, ZipEntry> byName;

    private TorchArchive(IRandomAccessSource source, string root, IReadOnlyList<ZipEntry> entries, Dictionary<string, ZipEntry> byName, ZipEntry pickleEntry, PickleDocument pickle, long directoryOffset)
    {
        DirectoryOffset = directoryOffset;
        this.byName = byName;
        Source = source;
        Root = root;
        Entries = entries;
        PickleEntry = pickleEntry;
        Pickle = pickle;
    }

    /// <summary>Where the archive is read from.</summary>
    public IRandomAccessSource Source { get; }

    /// <summary>The root folder every record lives in (the saved file's base name, or <c>archive</c>).</summary>
    public string Root { get; }

    /// <summary>Records in archive order.</summary>
    public IReadOnlyList<ZipEntry> Entries { get; }

    /// <summary>The <c>data.pkl</c> record.</summary>
    public ZipEntry PickleEntry { get; }

    internal PickleDocument Pickle { get; }

    /// <summary>The distinct locations the storages are recorded on (e.g. <c>cuda:0</c>), in order.</summary>
    public IReadOnlyList<string> StorageLocations =>
        Pickle.Storages.Values.Select(s => s.Location).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

    /// <summary>Whether every storage is recorded on <paramref name="location"/> (true for an archive with no storages).</summary>
    public bool IsEntirelyOn(string location) => Pickle.Storages.Values.All(s => s.Location == location);

    /// <summary>
    /// Whether <paramref name="other"/> holds the same records besides <c>data.pkl</c>: same names under
    /// the root, sizes and CRCs. A converted variant does; a variant of an older source does not.
    /// </summary>
    public bool HasSameRecordsAs(TorchArchive other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return DataRecords().SequenceEqual(other.DataRecords());
    }

    /// <summary>Where the central directory starts: the records end here.</summary>
    internal long DirectoryOffset { get; }

    private IEnumerable<(string Name, long Size, uint Crc)> DataRecords() =>
        Entries
            .Where(e => !ReferenceEquals(e, PickleEntry))
            .Select(e => (e.Name[(Root.Length + 1)..], e.UncompressedSize, e.Crc32))
            .OrderBy(r => r.Item1, StringComparer.Ordinal);

    /// <summary>Opens and validates the archive at <paramref name="source"/>.</summary>
    /// <exception cref="ArtifactFormatException">Not an archive TorchFerry works with; the message names the source.</exception>
    public static async Task<TorchArchive> OpenAsync(IRandomAccessSource source, ArchiveLimits? limits = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        try
        {
            return await OpenCoreAsync(source, limits ?? ArchiveLimits.Default, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OverflowException or InvalidDataException or FormatException or ArgumentOutOfRangeException or IndexOutOfRangeException)
        {
            // Values the zip format can hold but no archive has (sizes of 2^64, offsets past any file): one line, not a crash.
            throw new ArtifactFormatException(FormatErrorKind.Corrupt, $"{source.Name}: corrupt archive ({e.GetType().Name}: {e.Message.Split('\n')[0]})", e);
        }
    }

    private static async Task<TorchArchive> OpenCoreAsync(IRandomAccessSource source, ArchiveLimits limits, CancellationToken cancellationToken)
    {
        await ArchiveSniffer.EnsureZipAsync(source, cancellationToken).ConfigureAwait(false);
        var (unordered, directoryOffset) = await ZipDirectoryReader.ReadAsync(source, limits, cancellationToken).ConfigureAwait(false);
        var entries = unordered.OrderBy(e => e.LocalHeaderOffset).ToList();
        if (entries.Count == 0)
        {
            throw new ArtifactFormatException(FormatErrorKind.NotAnArchive, $"{source.Name}: empty zip archive, not a torch.save archive");
        }

        // Each byte of the archive belongs to one record: records that share bytes would make a small
        // file write a huge one (a thousand names for one record), and torch never writes them.
        foreach (var entry in entries)
        {
            // A stored record's data is its content: sizes that differ would let the copy read bytes the overlap check did not see.
            if (entry.Method == ZipEntry.Stored && entry.CompressedSize != entry.UncompressedSize)
            {
                throw new ArtifactFormatException(FormatErrorKind.Corrupt, $"{source.Name}: stored record '{InputText.Printable(entry.Name)}' has different compressed and uncompressed sizes (corrupt archive)");
            }
        }

        for (var i = 1; i < entries.Count; i++)
        {
            var (before, after) = (entries[i - 1], entries[i]);
            if (checked(before.DataOffset + before.CompressedSize) > after.LocalHeaderOffset)
            {
                throw new ArtifactFormatException(FormatErrorKind.Corrupt, $"{source.Name}: records '{InputText.Printable(before.Name)}' and '{InputText.Printable(after.Name)}' overlap (corrupt or crafted archive)");
            }
        }

        var root = RootOf(source, entries);
        var byName = new Dictionary<string, ZipEntry>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            if (!byName.TryAdd(entry.Name, entry))
            {
                throw new ArtifactFormatException(FormatErrorKind.Corrupt, $"{source.Name}: record '{InputText.Printable(entry.Name)}' appears twice (corrupt archive)");
            }

            if (entry.Method is not (ZipEntry.Stored or ZipEntry.Deflated))
            {
                throw new ArtifactFormatException(FormatErrorKind.Unsupported, $"{source.Name}: record '{InputText.Printable(entry.Name)}' uses zip compression method {entry.Method}; torch reads stored or deflated records only");
            }
        }

        if (byName.ContainsKey(root + "/constants.pkl") || entries.Any(e => e.Name.StartsWith(root + "/code/", StringComparison.Ordinal)))
        {
            throw new ArtifactFormatException(FormatErrorKind.TorchScript, 
                $"{source.Name}: a TorchScript archive (torch.jit.save), not a torch.save archive; "
                + "load it with torch.jit.load(f, map_location=...) or export its state_dict with torch.save");
        }

        if (!byName.TryGetValue(root + "/data.pkl", out var pickleEntry))
        {
            throw new ArtifactFormatException(FormatErrorKind.NotAnArchive, $"{source.Name}: no '{InputText.Printable(root)}/data.pkl' record; a zip file, but not a torch.save archive");
        }

        CheckExpansion(source, entries, limits);
        if (pickleEntry.UncompressedSize > limits.MaxPickleBytes)
        {
            throw new ArtifactFormatException(FormatErrorKind.LimitExceeded, $"{source.Name}: data.pkl of {pickleEntry.UncompressedSize} bytes exceeds the limit of {limits.MaxPickleBytes} bytes");
        }

        var pickleBytes = await ReadRecordAsync(source, pickleEntry, cancellationToken).ConfigureAwait(false);
        var pickle = PickleReader.Parse(pickleBytes, source.Name, cancellationToken);
        foreach (var storage in pickle.Storages.Values)
        {
            var recordName = $"{root}/data/{storage.Key}";
            if (!byName.TryGetValue(recordName, out var record))
            {
                throw new ArtifactFormatException(FormatErrorKind.Corrupt, $"{source.Name}: storage '{InputText.Printable(storage.Key)}' has no record '{InputText.Printable(recordName)}' (truncated or corrupt archive)");
            }

            if (record.UncompressedSize != storage.ByteLength)
            {
                throw new ArtifactFormatException(FormatErrorKind.Corrupt, 
                    $"{source.Name}: storage '{InputText.Printable(storage.Key)}' declares {storage.Numel} elements of {storage.Dtype.Name} ({storage.ByteLength} bytes) but record '{InputText.Printable(recordName)}' holds {record.UncompressedSize} bytes");
            }
        }

        return new TorchArchive(source, root, entries, byName, pickleEntry, pickle, directoryOffset);
    }

    /// <summary>The record holding a storage's bytes.</summary>
    internal ZipEntry RecordOf(StorageReference storage) => byName[$"{Root}/data/{storage.Key}"];

    /// <summary>Reads a whole record into memory, inflating it and checking size and CRC.</summary>
    internal static async Task<byte[]> ReadRecordAsync(IRandomAccessSource source, ZipEntry entry, CancellationToken cancellationToken)
    {
        // Stored records' sizes were checked to agree when the archive was opened.
        var bytes = new byte[entry.UncompressedSize];
        if (entry.Method == ZipEntry.Stored)
        {
            await source.ReadExactlyAsync(entry.DataOffset, bytes, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            try
            {
                await using var inflater = OpenInflated(source, entry);
                await inflater.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
                if (inflater.ReadByte() >= 0)
                {
                    throw ExpandsBeyondDeclared(source, entry);
                }
            }
            catch (InvalidDataException e)
            {
                throw NotDeflateData(source, entry, e);
            }
            catch (EndOfStreamException e)
            {
                throw new ArtifactFormatException(FormatErrorKind.Truncated, $"{source.Name}: record '{InputText.Printable(entry.Name)}' inflates to less than its declared {entry.UncompressedSize} bytes (truncated or corrupt archive)", e);
            }
        }

        if (Crc32.HashToUInt32(bytes) != entry.Crc32)
        {
            throw new ArtifactFormatException(FormatErrorKind.Corrupt, $"{source.Name}: record '{InputText.Printable(entry.Name)}' fails its CRC check (corrupt archive)");
        }

        return bytes;
    }

    /// <summary>A stream of a deflated record's content; reading past its declared size is an error.</summary>
    internal static Stream OpenInflated(IRandomAccessSource source, ZipEntry entry) =>
        new BoundedStream(
            new DeflateStream(source.OpenRange(entry.DataOffset, entry.CompressedSize), CompressionMode.Decompress),
            entry.UncompressedSize,
            () => ExpandsBeyondDeclared(source, entry));

    /// <summary>The refusal of a deflated record that inflates past its declared size.</summary>
    internal static ArtifactFormatException ExpandsBeyondDeclared(IRandomAccessSource source, ZipEntry entry) =>
        new(FormatErrorKind.LimitExceeded, $"{source.Name}: record '{InputText.Printable(entry.Name)}' inflates beyond its declared {entry.UncompressedSize} bytes (corrupt archive or zip bomb)");

    /// <summary>The refusal of a record marked deflated whose bytes are not deflate data.</summary>
    internal static ArtifactFormatException NotDeflateData(IRandomAccessSource source, ZipEntry entry, InvalidDataException error) =>
        new(FormatErrorKind.Corrupt, $"{source.Name}: record '{InputText.Printable(entry.Name)}' is not valid deflate data (corrupt archive)", error);

    private static string RootOf(IRandomAccessSource source, List<ZipEntry> entries)
    {
        var first = entries[0].Name;
        var slash = first.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0)
        {
            throw new ArtifactFormatException(FormatErrorKind.NotAnArchive, $"{source.Name}: record '{InputText.Printable(first)}' is not inside a root folder; not a torch.save archive");
        }

        var root = first[..slash];
        foreach (var entry in entries)
        {
            if (!entry.Name.StartsWith(root + "/", StringComparison.Ordinal) || entry.Name.Contains("..", StringComparison.Ordinal) || entry.Name.Contains('\\', StringComparison.Ordinal))
            {
                throw new ArtifactFormatException(FormatErrorKind.Corrupt, $"{source.Name}: record '{InputText.Printable(entry.Name)}' lies outside the archive's root folder '{InputText.Printable(root)}/'");
            }
        }

        return root;
    }

    private static void CheckExpansion(IRandomAccessSource source, List<ZipEntry> entries, ArchiveLimits limits)
    {
        // Summed in 128 bits: 300,000 records of up to 2^63 bytes each cannot overflow, so declared
        // sizes past 2^63 in all are this refusal, not an arithmetic error.
        Int128 compressed = 0, expanded = 0;
        foreach (var entry in entries.Where(e => e.Method == ZipEntry.Deflated))
        {
            compressed += entry.CompressedSize;
            expanded += entry.UncompressedSize;
        }

        if (expanded > limits.ExpansionAllowance && (double)expanded > (double)compressed * limits.MaxExpansionRatio)
        {
            throw new ArtifactFormatException(FormatErrorKind.LimitExceeded, 
                $"{source.Name}: deflated records would expand {compressed} bytes to {expanded} bytes, beyond the limit of {limits.MaxExpansionRatio}:1 (zip bomb?)");
        }
    }
}
