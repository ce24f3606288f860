using TorchFerry.Format.Archive;

namespace TorchFerry.Format.Conversion;

/// <summary>
/// When <c>data.pkl</c> is the first record and every later record is stored with 64-byte aligned
/// data (torch's own layout), everything after <c>data.pkl</c> up to the central directory can be
/// copied as one range: local headers hold no absolute offsets, so only the central directory
/// changes, provided the range moves by a multiple of 64 bytes (the pickle is padded to make sure).
/// </summary>
internal sealed record TailLayout(long Start, long End, IReadOnlyList<ZipEntry> Records)
{
    public long Length => End - Start;

    public static TailLayout? TryCreate(TorchArchive archive)
    {
        var directoryOffset = archive.DirectoryOffset;
        var entries = archive.Entries;
        if (!ReferenceEquals(entries[0], archive.PickleEntry))
        {
            return null;
        }

        var records = entries.Skip(1).ToList();
        if (records.Any(e => e.Method != ZipEntry.Stored || e.DataOffset % TorchZipLayout.Alignment != 0))
        {
            return null;
        }

        // The range runs to the directory, so the last record's data descriptor travels with it.
        var start = records.Count > 0 ? records[0].LocalHeaderOffset : directoryOffset;
        var pickleEnd = archive.PickleEntry.DataOffset + archive.PickleEntry.CompressedSize;
        return start >= pickleEnd ? new TailLayout(start, directoryOffset, records) : null;
    }
}
