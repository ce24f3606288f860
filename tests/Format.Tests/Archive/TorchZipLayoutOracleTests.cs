using TorchFerry.Format.Archive;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Archive;

/// <summary>
/// The zip bytes TorchFerry writes around records, judged against torch's own writer: for files
/// torch.save wrote, each local header, data descriptor and the whole central directory with its
/// end records, as <see cref="TorchZipLayout"/> lays them out from names, offsets, sizes and CRCs,
/// must be the bytes torch put there.
/// </summary>
[Collection(TorchCollection.Name)]
public sealed class TorchZipLayoutOracleTests(TorchFixtures fixtures)
{
    [Theory]
    [InlineData("tensor")]
    [InlineData("module")]
    [InlineData("checkpoint_dict")]
    [InlineData("dtypes")]
    [InlineData("archive_root")]
    [InlineData("containers")]
    public async Task Layout_IsByteForByteWhatTorchWrote(string fixtureCase)
    {
        var path = fixtures.GpuFile(fixtureCase);
        var file = await File.ReadAllBytesAsync(path);
        using var source = FileSource.Open(path);
        var archive = await TorchArchive.OpenAsync(source);

        foreach (var entry in archive.Entries)
        {
            var header = TorchZipLayout.LocalHeader(entry.Name, entry.LocalHeaderOffset, entry.UncompressedSize);
            AssertBytes(header, file.AsSpan((int)entry.LocalHeaderOffset, header.Length), $"{entry.Name}: local header");
            Assert.Equal(entry.DataOffset, entry.LocalHeaderOffset + header.Length);

            var descriptor = TorchZipLayout.DataDescriptor(entry.Crc32, entry.UncompressedSize, zip64: false);
            AssertBytes(descriptor, file.AsSpan((int)(entry.DataOffset + entry.CompressedSize), descriptor.Length), $"{entry.Name}: data descriptor");
        }

        var records = archive.Entries.Select(e => new WrittenRecord(e.Name, e.LocalHeaderOffset, e.UncompressedSize, e.Crc32, e.Flags)).ToList();
        var last = archive.Entries[^1];
        var directoryOffset = last.DataOffset + last.CompressedSize + 16;
        var directory = TorchZipLayout.Directory(records, directoryOffset);
        AssertBytes(directory, file.AsSpan((int)directoryOffset), "central directory and end records");
        Assert.Equal(file.Length - directoryOffset, directory.Length);
    }

    [Theory]
    [InlineData("zip64_past_4gib")] // a record of 4 GiB and 64 bytes, then records starting past 4 GiB
    [InlineData("zip64_record_of_4gib_less_one")] // a record of exactly 0xFFFFFFFF bytes
    [InlineData("zip64_records_65534")] // the most records a 16-bit count holds without its marker
    [InlineData("zip64_records_65535")] // the marker itself
    [InlineData("zip64_records_65536")] // past what the 16-bit count holds
    public async Task Layout_OfZip64Archives_IsByteForByteWhatTorchWrote(string fixtureCase)
    {
        // torch.save's own writer, into a sparse file (its storages' zeros are holes).
        var path = fixtures.GpuFile(fixtureCase);
        using var source = FileSource.Open(path);
        using var file = File.OpenHandle(path);
        var archive = await TorchArchive.OpenAsync(source);
        var zip64Records = 0;

        foreach (var entry in archive.Entries)
        {
            var zip64 = TorchZipLayout.NeedsZip64(entry.UncompressedSize, entry.LocalHeaderOffset);
            zip64Records += zip64 ? 1 : 0;
            var header = TorchZipLayout.LocalHeader(entry.Name, entry.LocalHeaderOffset, entry.UncompressedSize);
            AssertBytes(header, Read(file, entry.LocalHeaderOffset, header.Length), $"{entry.Name}: local header");
            Assert.Equal(entry.DataOffset, entry.LocalHeaderOffset + header.Length);

            var descriptor = TorchZipLayout.DataDescriptor(entry.Crc32, entry.UncompressedSize, zip64);
            AssertBytes(descriptor, Read(file, entry.DataOffset + entry.CompressedSize, descriptor.Length), $"{entry.Name}: data descriptor");
        }

        var records = archive.Entries.Select(e => new WrittenRecord(e.Name, e.LocalHeaderOffset, e.UncompressedSize, e.Crc32, e.Flags)).ToList();
        var last = archive.Entries[^1];
        var directoryOffset = last.DataOffset + last.CompressedSize + TorchZipLayout.DataDescriptor(last.Crc32, last.UncompressedSize, TorchZipLayout.NeedsZip64(last.UncompressedSize, last.LocalHeaderOffset)).Length;
        var directory = TorchZipLayout.Directory(records, directoryOffset);
        Assert.Equal(RandomAccess.GetLength(file) - directoryOffset, directory.Length);
        AssertBytes(directory, Read(file, directoryOffset, directory.Length), "central directory and end records");
        Assert.Equal(fixtureCase.StartsWith("zip64_records_", StringComparison.Ordinal) ? 0 : fixtureCase == "zip64_past_4gib" ? 3 : 2, zip64Records);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(64, 64)]
    [InlineData(32_768, 32_768)]
    public void LocalHeader_ExtraPadding_MovesTheDataByThatMuch(int extraPadding, int moved)
    {
        var plain = TorchZipLayout.LocalHeader("m/data/0", 1000, 8);

        var padded = TorchZipLayout.LocalHeader("m/data/0", 1000, 8, extraPadding);

        Assert.Equal(plain.Length + moved, padded.Length);
        Assert.Equal(0, (1000 + padded.Length) % TorchZipLayout.Alignment);
        Assert.All(padded.AsSpan(30 + "m/data/0".Length + 4).ToArray(), b => Assert.Equal((byte)'Z', b)); // after the name and the FB field's own header
    }

    [Theory]
    [InlineData(-64)]
    [InlineData(32)]
    [InlineData(32_768 + 64)]
    public void LocalHeader_PaddingThatIsNoMultipleOf64OrTooLong_IsRefused(int extraPadding)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TorchZipLayout.LocalHeader("m/data/0", 0, 8, extraPadding));
    }

    [Theory]
    [InlineData(0L, 0L, false)]
    [InlineData(uint.MaxValue - 1L, uint.MaxValue - 1L, false)]
    [InlineData((long)uint.MaxValue, 0L, true)]
    [InlineData(0L, (long)uint.MaxValue, true)]
    public void NeedsZip64_FromTheFirstSizeOrOffsetThe32BitFieldsCannotHold(long size, long offset, bool needed)
    {
        Assert.Equal(needed, TorchZipLayout.NeedsZip64(size, offset));
    }

    private static byte[] Read(Microsoft.Win32.SafeHandles.SafeFileHandle file, long offset, int length)
    {
        var bytes = new byte[length];
        Assert.Equal(length, RandomAccess.Read(file, bytes, offset));
        return bytes;
    }

    private static void AssertBytes(byte[] expected, ReadOnlySpan<byte> actual, string what)
    {
        var first = expected.AsSpan().CommonPrefixLength(actual);
        first = first == Math.Min(expected.Length, actual.Length) ? -1 : first;
        Assert.True(first < 0 && expected.Length <= actual.Length, $"{what}: {expected.Length} bytes expected, first difference at byte {first} (ours {(first >= 0 ? expected[first] : -1)}, torch's {(first >= 0 ? actual[first] : -1)})");
    }
}
