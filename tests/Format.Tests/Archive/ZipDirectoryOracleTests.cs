using System.Text.Json.Nodes;
using TorchFerry.Format.Archive;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Archive;

/// <summary>
/// CPython's zipfile as the oracle for the central-directory reader: archives it writes in the layouts a
/// reader meets (stored and deflated, forced zip64 headers, a 64 KiB comment, more than 65,535 records,
/// UTF-8 names, data descriptors) must be listed exactly as zipfile lists them, data offsets included.
/// </summary>
public sealed class ZipDirectoryOracleTests : IDisposable
{
    private readonly TemporaryDirectory folder = new();

    public void Dispose() => folder.Dispose();

    [Fact]
    public async Task Read_EveryLayoutCPythonWrites_ListsTheRecordsAsZipfileDoes()
    {
        var layouts = WriteLayouts();

        Assert.Equal(["data_descriptors", "forced_zip64", "long_comment", "more_than_65535_records", "stored_and_deflated", "utf8_names"], layouts.Select(l => l.Key).Order(StringComparer.Ordinal));
        foreach (var (layout, records) in layouts)
        {
            using var source = FileSource.Open(folder.File(layout + ".zip"));
            var (entries, directoryOffset) = await ZipDirectoryReader.ReadAsync(source, ArchiveLimits.Default, CancellationToken.None);

            var expected = records!.AsArray().Select(r => Describe(r!)).ToList();
            var read = entries.Select(e => $"{e.Name} method {e.Method} flags {e.Flags} crc {e.Crc32} sizes {e.CompressedSize}/{e.UncompressedSize} at {e.LocalHeaderOffset} data {e.DataOffset}").ToList();
            Assert.True(expected.SequenceEqual(read), $"{layout}: first difference {expected.Zip(read).FirstOrDefault(p => p.First != p.Second)}; {expected.Count} records, read {read.Count}");
            Assert.True(entries.All(e => e.DataOffset + e.CompressedSize <= directoryOffset), layout);
        }
    }

    private static string Describe(JsonNode r) =>
        $"{r["name"]} method {r["method"]} flags {r["flags"]} crc {r["crc"]} sizes {r["compressed"]}/{r["uncompressed"]} at {r["local"]} data {r["data"]}";

    private JsonObject WriteLayouts() => PythonScript.RunJson("zip_layouts.py", folder.Path).AsObject();
}
