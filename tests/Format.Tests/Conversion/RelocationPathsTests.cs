using System.Buffers.Binary;
using TorchFerry.Format.Archive;
using TorchFerry.Format.Conversion;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Conversion;

/// <summary>
/// The three ways records travel in a conversion (shared by a clone on XFS, copied by the kernel,
/// streamed through this process, and inflated when deflated), each judged on what it promises:
/// a corrupt record is refused where its bytes are read, progress ends at the bytes the records
/// hold, and the report says how much was shared.
/// </summary>
[Collection(TorchCollection.Name)]
public sealed class RelocationPathsTests(TorchFixtures fixtures, ReflinkVolume volume) : IClassFixture<ReflinkVolume>, IDisposable
{
    private readonly TemporaryDirectory plain = new();
    private readonly string prefix = Guid.NewGuid().ToString("N")[..8];

    public static TheoryData<string, long> Paths => new()
    {
        { "kernel copy", 0L },
        { "streamed", long.MaxValue },
    };

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task Convert_ProgressEndsAtTheRecordsBytesAndNeverGoesBack(string path, long kernelCopyThreshold)
    {
        var source = fixtures.GpuFile("large");
        var reported = new List<(long Done, long Total)>();

        var report = await LocalConversion.ConvertAsync(
            source, plain.File($"{path}.pt"), DeviceMap.Create("cpu"), progress: (done, total) => reported.Add((done, total)),
            options: new RelocationOptions { KernelCopyThreshold = kernelCopyThreshold });

        Assert.Equal((await BytesAsync(source)).Copied, report.RecordBytesCopied);
        Assert.NotEmpty(reported);
        Assert.Equal(report.RecordBytesCopied, reported[^1].Done);
        Assert.True(reported.Zip(reported.Skip(1)).All(p => p.First.Done <= p.Second.Done), $"{path}: progress went back");
        Assert.Equal(0, report.RecordBytesCloned);
    }

    [Fact]
    public async Task Convert_OnXfs_SharesTheRecordsAndReportsThem()
    {
        var source = CopyToVolume("large");
        var destination = VolumeFile("cpu.pt");
        var reported = new List<long>();

        var report = await LocalConversion.ConvertAsync(source, destination, DeviceMap.Create("cpu"), progress: (done, _) => reported.Add(done));

        var (storages, copied) = await BytesAsync(source);
        Assert.True(report.RecordBytesCloned > storages - (64 << 10), $"{report.RecordBytesCloned} bytes cloned");
        Assert.Equal(report.RecordBytesCloned, ReflinkVolume.SharedBytes(destination));
        Assert.Equal(copied, report.RecordBytesCopied);
        Assert.Equal(report.RecordBytesCopied, reported[^1]);
        Assert.Empty(fixtures.Torch.Compare("large", destination).Problems);
    }

    [Fact]
    public async Task Convert_OnXfs_CorruptRecord_IsSharedAsItIs_UnlessClonesAreVerified()
    {
        var source = CopyToVolume("large");
        await FlipByteAsync(source, "data/0", 12_345);

        var error = await Assert.ThrowsAsync<ArtifactFormatException>(() => LocalConversion.ConvertAsync(
            source, VolumeFile("verified.pt"), DeviceMap.Create("cpu"), options: new RelocationOptions { VerifyClones = true }));
        Assert.Equal(FormatErrorKind.Corrupt, error.Kind);
        Assert.EndsWith("/data/0' fails its CRC check (corrupt archive)", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(VolumeFile("verified.pt")));

        // Without it the clone shares the source's blocks, corrupt byte and all (torch does not check CRCs either).
        var report = await LocalConversion.ConvertAsync(source, VolumeFile("shared.pt"), DeviceMap.Create("cpu"));
        Assert.True(report.RecordBytesCloned > 0);
    }

    [Fact]
    public async Task Convert_DeflatedRecordWhoseCrcDisagrees_IsRefused_UnlessVerificationIsOff()
    {
        var source = plain.File("deflated.pt");
        File.Copy(fixtures.GpuFile("deflated"), source);
        await BreakCentralCrcAsync(source, "data/0");

        var error = await Assert.ThrowsAsync<ArtifactFormatException>(() => LocalConversion.ConvertAsync(source, plain.File("out.pt"), DeviceMap.Create("cpu")));

        Assert.Equal(FormatErrorKind.Corrupt, error.Kind);
        Assert.EndsWith("/data/0' fails its CRC check (corrupt archive)", error.Message, StringComparison.Ordinal);
        await LocalConversion.ConvertAsync(source, plain.File("out.pt"), DeviceMap.Create("cpu"), options: new RelocationOptions { VerifyChecksums = false });
        Assert.Null(fixtures.Torch.LoadError(plain.File("out.pt")));
    }

    [Fact]
    public async Task Convert_DeflatedRecordThatIsNotDeflateData_IsRefusedAndLeavesNothing()
    {
        // Only data.pkl is read when an archive is opened; a storage record is first inflated here.
        var source = plain.File("deflated.pt");
        File.Copy(fixtures.GpuFile("deflated"), source);
        var entry = await EntryAsync(source, "data/0");
        await using (var file = new FileStream(source, FileMode.Open, FileAccess.ReadWrite))
        {
            file.Position = entry.DataOffset;
            file.WriteByte(0xFF); // a final block of the reserved type 3
        }

        var error = await Assert.ThrowsAsync<ArtifactFormatException>(() => LocalConversion.ConvertAsync(source, plain.File("out.pt"), DeviceMap.Create("cpu")));

        Assert.Equal(FormatErrorKind.Corrupt, error.Kind);
        Assert.EndsWith($"record '{entry.Name}' is not valid deflate data (corrupt archive)", error.Message, StringComparison.Ordinal);
        Assert.Equal(["deflated.pt"], Directory.GetFileSystemEntries(plain.Path).Select(Path.GetFileName));
    }

    public void Dispose()
    {
        foreach (var file in Directory.GetFiles(volume.Path, prefix + "*"))
        {
            File.Delete(file);
        }

        plain.Dispose();
    }

    private string VolumeFile(string name) => Path.Combine(volume.Path, prefix + name);

    private string CopyToVolume(string fixtureCase)
    {
        var path = VolumeFile(fixtureCase + ".pt");
        File.Copy(fixtures.GpuFile(fixtureCase), path);
        return path;
    }

    // The storages' bytes as the pickle declares them, and what a conversion copies: those and the
    // records beside data.pkl and the storages (version, byteorder, .data/serialization_id).
    private static async Task<(long Storages, long Copied)> BytesAsync(string path)
    {
        using var source = FileSource.Open(path);
        var archive = await TorchArchive.OpenAsync(source);
        var storages = archive.Pickle.Storages.Values.Sum(s => s.ByteLength);
        var others = archive.Entries.Where(e => !ReferenceEquals(e, archive.PickleEntry) && !e.Name.Contains("/data/", StringComparison.Ordinal)).Sum(e => e.UncompressedSize);
        return (storages, storages + others);
    }

    private static async Task<ZipEntry> EntryAsync(string path, string suffix)
    {
        using var source = FileSource.Open(path);
        var archive = await TorchArchive.OpenAsync(source);
        return archive.Entries.Single(e => e.Name.EndsWith("/" + suffix, StringComparison.Ordinal));
    }

    private static async Task FlipByteAsync(string path, string suffix, long at)
    {
        var entry = await EntryAsync(path, suffix);
        await using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        file.Position = entry.DataOffset + at;
        var b = file.ReadByte();
        file.Position = entry.DataOffset + at;
        file.WriteByte((byte)(b ^ 0xFF));
    }

    private static async Task BreakCentralCrcAsync(string path, string suffix)
    {
        var bytes = await File.ReadAllBytesAsync(path);
        var entry = await EntryAsync(path, suffix);
        var found = false;
        for (var at = bytes.Length - 46; at >= 0; at--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at)) == 0x02014b50 && BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 42)) == entry.LocalHeaderOffset)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at + 16), entry.Crc32 ^ 1);
                found = true;
                break;
            }
        }

        Assert.True(found, "no central directory entry for " + suffix);
        await File.WriteAllBytesAsync(path, bytes);
    }
}
