using System.IO.Hashing;
using TorchFerry.Format.Archive;

namespace TorchFerry.Format.Tests;

/// <summary>Checks an archive the way a strict zip reader and torch's loader would.</summary>
internal static class ArchiveAssert
{
    /// <summary>Every record stored, 64-byte aligned, with a matching CRC; returns the opened archive.</summary>
    public static async Task<TorchArchive> IsTorchLayoutAsync(string path)
    {
        using var source = FileSource.Open(path);
        var archive = await TorchArchive.OpenAsync(source);
        foreach (var entry in archive.Entries)
        {
            Assert.Equal(ZipEntry.Stored, entry.Method);
            Assert.True(entry.DataOffset % 64 == 0, $"{entry.Name} starts at {entry.DataOffset}, not 64-byte aligned");
            var content = await TorchArchive.ReadRecordAsync(source, entry, CancellationToken.None);
            Assert.Equal(entry.Crc32, Crc32.HashToUInt32(content));
        }

        return archive;
    }

    /// <summary>The uncompressed content of every record but data.pkl, by name relative to the root.</summary>
    public static async Task<Dictionary<string, byte[]>> RecordsAsync(string path)
    {
        using var source = FileSource.Open(path);
        var archive = await TorchArchive.OpenAsync(source);
        var records = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var entry in archive.Entries.Where(e => !ReferenceEquals(e, archive.PickleEntry)))
        {
            records[entry.Name[(archive.Root.Length + 1)..]] = await TorchArchive.ReadRecordAsync(source, entry, CancellationToken.None);
        }

        return records;
    }
}
