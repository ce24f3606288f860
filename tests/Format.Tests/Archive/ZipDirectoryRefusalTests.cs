using System.Buffers.Binary;
using TorchFerry.Format.Archive;
using TorchFerry.Format.Tests.Fuzz;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Archive;

/// <summary>
/// The central directory and local headers of a valid archive, each field bent the way a corrupt
/// or crafted file bends it: refused with its line, or read where the zip format allows it.
/// </summary>
public sealed class ZipDirectoryRefusalTests
{
    private const int EndRecordSize = 22;
    private const int CentralHeaderSize = 46;
    private static readonly byte[] Pickle = new PickleBuilder().Proto(2).Tensor1d("ByteStorage", "0", "cpu", 16).Stop().ToArray();

    [Fact]
    public async Task Valid_Opens()
    {
        var archive = await OpenAsync(Valid());

        Assert.Equal(2, archive.Entries.Count);
    }

    [Fact]
    public async Task CentralDirectory_AtItsByteLimit_IsRead_OneByteOver_IsRefused()
    {
        var zip = Valid();
        var size = DirectorySize(zip);

        await OpenAsync(zip, new ArchiveLimits { MaxCentralDirectoryBytes = size });
        var error = await RefusedAsync(zip, new ArchiveLimits { MaxCentralDirectoryBytes = size - 1 });

        Assert.Equal((FormatErrorKind.LimitExceeded, $"x.pt: central directory of {size} bytes exceeds the limit of {size - 1} bytes"), (error.Kind, error.Message));
    }

    [Fact]
    public async Task Records_AtTheirLimit_AreRead_OneOver_IsRefused()
    {
        var zip = Valid();

        await OpenAsync(zip, new ArchiveLimits { MaxEntries = 2 });
        var error = await RefusedAsync(zip, new ArchiveLimits { MaxEntries = 1 });

        Assert.Equal((FormatErrorKind.LimitExceeded, "x.pt: 2 records exceed the limit of 1"), (error.Kind, error.Message));
    }

    [Fact]
    public async Task CentralDirectory_PastTheEndOfTheFile_IsTruncation()
    {
        var zip = Valid();
        Put32(zip, EndRecord(zip) + 16, (uint)(zip.Length - DirectorySize(zip) + 1));

        var error = await RefusedAsync(zip);

        Assert.Equal((FormatErrorKind.Truncated, "x.pt: central directory lies outside the file (truncated or corrupt archive)"), (error.Kind, error.Message));
    }

    [Fact]
    public async Task EndRecordSignatureBroken_IsNoEndRecord()
    {
        var zip = Valid();
        zip[EndRecord(zip)] ^= 0xff;

        var error = await RefusedAsync(zip);

        Assert.Equal((FormatErrorKind.Corrupt, "x.pt: no zip end-of-central-directory record (truncated or corrupt archive)"), (error.Kind, error.Message));
    }

    [Fact]
    public async Task EndRecordWithTheLongestComment_IsFound()
    {
        // 65,535 bytes of comment after the end record: the furthest from the file's end it can be.
        var zip = Valid();
        Put16(zip, EndRecord(zip) + 20, ushort.MaxValue);
        zip = [.. zip, .. Enumerable.Repeat((byte)'#', ushort.MaxValue)];

        var archive = await OpenAsync(zip);

        Assert.Equal(2, archive.Entries.Count);
    }

    [Fact]
    public async Task StorageBytesThatLookLikeAnEndRecord_AreNotTakenForOne()
    {
        // A storage's bytes are anything: here an end record whose comment would reach the file's end.
        // The real end record, nearest the end, is the one read.
        byte[] fake = [0x50, 0x4b, 0x05, 0x06, .. new byte[18]];
        var zip = new ZipBuilder().Add("m/data.pkl", new PickleBuilder().Proto(2).Tensor1d("ByteStorage", "0", "cpu", fake.Length).Stop().ToArray()).Add("m/data/0", fake).ToArray();
        var at = zip.AsSpan().IndexOf(fake.AsSpan(0, 4));
        Assert.True(at < EndRecord(zip));
        Put16(zip, at + 20, (ushort)(zip.Length - EndRecordSize - at));

        var archive = await OpenAsync(zip);

        Assert.Equal(2, archive.Entries.Count);
    }

    [Theory]
    [InlineData(0UL, FormatErrorKind.Corrupt, "x.pt: corrupt zip64 end record")] // inside the file, but no zip64 end record there
    [InlineData(56UL, FormatErrorKind.Corrupt, "x.pt: corrupt zip64 end record")] // its 56 bytes end exactly at the file's end
    [InlineData(55UL, FormatErrorKind.Truncated, "x.pt: zip64 end record lies outside the file (truncated or corrupt archive)")]
    [InlineData(ulong.MaxValue, FormatErrorKind.Truncated, "x.pt: zip64 end record lies outside the file (truncated or corrupt archive)")]
    public async Task Zip64Locator_PointingAnywhereButAZip64EndRecord_IsRefused(ulong fromEndOrOffset, FormatErrorKind kind, string line)
    {
        // A zip64 locator (20 bytes) just before the end record, as zip64 writers put it.
        var zip = Valid();
        var end = EndRecord(zip);
        var locator = new byte[20];
        BinaryPrimitives.WriteUInt32LittleEndian(locator, 0x07064b50);
        zip = [.. zip[..end], .. locator, .. zip[end..]];
        var offset = fromEndOrOffset is 0 or ulong.MaxValue ? fromEndOrOffset : (ulong)zip.Length - fromEndOrOffset;
        BinaryPrimitives.WriteUInt64LittleEndian(zip.AsSpan(end + 8), offset);

        var error = await RefusedAsync(zip);

        Assert.Equal((kind, line), (error.Kind, error.Message));
    }

    [Fact]
    public async Task Zip64EndRecord_IsWhereCountSizeAndOffsetAreRead()
    {
        // The classic end record says no records; the zip64 one, which a locator points to, says two.
        var zip = WithZip64EndRecord(Valid(), (32, null));
        Put16(zip, EndRecord(zip) + 8, 0);
        Put16(zip, EndRecord(zip) + 10, 0);

        var archive = await OpenAsync(zip);

        Assert.Equal(2, archive.Entries.Count);
    }

    [Theory]
    [InlineData(32)] // records
    [InlineData(40)] // directory size
    [InlineData(48)] // directory offset
    public async Task Zip64EndRecord_ValueBeyond63Bits_IsCorruptInOneLine(int field)
    {
        var zip = WithZip64EndRecord(Valid(), (field, ulong.MaxValue));

        var error = await RefusedAsync(zip);

        Assert.Equal(FormatErrorKind.Corrupt, error.Kind);
        Assert.Equal("x.pt: corrupt archive (OverflowException: Arithmetic operation resulted in an overflow.)", error.Message);
    }

    [Theory]
    [InlineData("sizes", true, false)]
    [InlineData("another field, then sizes", true, false)]
    [InlineData("sizes, then another field", true, false)]
    [InlineData("offset", false, true)]
    [InlineData("sizes and offset", true, true)]
    public async Task Zip64ExtraField_WhereverItIs_GivesTheValuesThe32BitFieldsCannot(string layout, bool sizes, bool offset)
    {
        var zip = Valid();
        var local = BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(Central(zip, 1) + 42));
        ulong[] values = [.. sizes ? new ulong[] { 16, 16 } : [], .. offset ? new ulong[] { local } : []];
        byte[] other = [0x55, 0x54, 5, 0, 1, 2, 3, 4, 5]; // an extended-timestamp field, as zip tools add
        byte[] extra = layout switch
        {
            "another field, then sizes" => [.. other, .. Zip64Field(values)],
            "sizes, then another field" => [.. Zip64Field(values), .. other],
            _ => Zip64Field(values),
        };

        var archive = await OpenAsync(WithCentralExtra(zip, extra, sizes, offset));

        var entry = archive.Entries.Single(e => e.Name == "m/data/0");
        Assert.Equal((16L, 16L, (long)local), (entry.CompressedSize, entry.UncompressedSize, entry.LocalHeaderOffset));
    }

    [Theory]
    [InlineData(12)] // the field says 16 bytes, 8 follow: not read
    [InlineData(-1)] // the field holds one size where two are owed
    public async Task Zip64ExtraField_CutShort_LeavesTheSizesUnknown_AndTheRecordOutside(int cut)
    {
        var zip = Valid();
        var extra = cut < 0 ? Zip64Field([16]) : Zip64Field([16, 16])[..cut];

        var error = await RefusedAsync(WithCentralExtra(zip, extra, sizes: true, offset: false));

        Assert.Equal((FormatErrorKind.Corrupt, "x.pt: record 'm/data/0' points outside the archive (truncated or corrupt)"), (error.Kind, error.Message));
    }

    [Fact]
    public async Task MoreRecordsCountedThanTheDirectoryHolds_IsCorrupt()
    {
        var zip = Valid();
        Put16(zip, EndRecord(zip) + 8, 3);
        Put16(zip, EndRecord(zip) + 10, 3);

        var error = await RefusedAsync(zip);

        Assert.Equal((FormatErrorKind.Corrupt, "x.pt: corrupt central directory at record 2"), (error.Kind, error.Message));
    }

    [Fact]
    public async Task NameRunningPastTheDirectory_IsCorrupt()
    {
        var zip = Valid();
        Put16(zip, Central(zip, 1) + 28, 9); // one byte longer than "m/data/0" and the directory

        var error = await RefusedAsync(zip);

        Assert.Equal((FormatErrorKind.Corrupt, "x.pt: corrupt central directory at record 1"), (error.Kind, error.Message));
    }

    [Fact]
    public async Task EncryptedRecord_IsRefused()
    {
        var zip = Valid();
        Put16(zip, Central(zip, 1) + 8, 1);

        var error = await RefusedAsync(zip);

        Assert.Equal((FormatErrorKind.Unsupported, "x.pt: record 1 is encrypted; torch.save archives never are"), (error.Kind, error.Message));
    }

    [Fact]
    public async Task RecordWhoseDataWouldReachIntoTheDirectory_PointsOutside()
    {
        var zip = Valid();
        Put32(zip, Central(zip, 1) + 20, 16 + 9); // compressed size: past the directory's start

        var error = await RefusedAsync(zip);

        Assert.Equal((FormatErrorKind.Corrupt, "x.pt: record 'm/data/0' points outside the archive (truncated or corrupt)"), (error.Kind, error.Message));
    }

    [Fact]
    public async Task EmptyRecordEndingExactlyAtTheDirectory_IsInTheArchive()
    {
        // A last record with no name and no data: its 30-byte header ends where the directory starts.
        var zip = new ZipBuilder().Add("m/data.pkl", Pickle).Add("m/data/0", new byte[16]).Add(string.Empty, []).ToArray();

        var error = await RefusedAsync(zip);

        // Read as a record, then refused as one outside the root folder.
        Assert.Equal((FormatErrorKind.Corrupt, "x.pt: record '' lies outside the archive's root folder 'm/'"), (error.Kind, error.Message));
    }

    [Fact]
    public async Task DirectoryPointingWhereNoLocalHeaderIs_IsCorrupt()
    {
        var zip = Valid();
        var offset = BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(Central(zip, 1) + 42));
        Put32(zip, Central(zip, 1) + 42, offset + 1);

        var error = await RefusedAsync(zip);

        Assert.Equal((FormatErrorKind.Corrupt, $"x.pt: record 'm/data/0' has no local header at offset {offset + 1} (corrupt archive)"), (error.Kind, error.Message));
    }

    [Fact]
    public async Task LocalHeaderWhoseExtraFieldPushesTheDataPastTheRecords_IsTruncation()
    {
        var zip = Valid();
        var local = (int)BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(Central(zip, 1) + 42));
        Put16(zip, local + 28, 1);

        var error = await RefusedAsync(zip);

        Assert.Equal((FormatErrorKind.Truncated, "x.pt: data of 'm/data/0' runs past the end of the records (truncated or corrupt archive)"), (error.Kind, error.Message));
    }

    // A zip64 end record and its locator between the central directory and the end record, holding
    // the directory's real count, size and offset, one field optionally overwritten.
    private static byte[] WithZip64EndRecord(byte[] zip, (int Field, ulong? Value) overwrite)
    {
        var end = EndRecord(zip);
        var record = new byte[56];
        BinaryPrimitives.WriteUInt32LittleEndian(record, 0x06064b50);
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(4), 44);
        BinaryPrimitives.WriteUInt16LittleEndian(record.AsSpan(12), 45);
        BinaryPrimitives.WriteUInt16LittleEndian(record.AsSpan(14), 45);
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(24), BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(end + 10)));
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(32), BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(end + 10)));
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(40), (ulong)DirectorySize(zip));
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(48), BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(end + 16)));
        if (overwrite.Value is { } value)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(overwrite.Field), value);
        }

        var locator = new byte[20];
        BinaryPrimitives.WriteUInt32LittleEndian(locator, 0x07064b50);
        BinaryPrimitives.WriteUInt64LittleEndian(locator.AsSpan(8), (ulong)end);
        BinaryPrimitives.WriteUInt32LittleEndian(locator.AsSpan(16), 1);
        return [.. zip[..end], .. record, .. locator, .. zip[end..]];
    }

    private static byte[] Zip64Field(ulong[] values)
    {
        var field = new byte[4 + (8 * values.Length)];
        BinaryPrimitives.WriteUInt16LittleEndian(field, 0x0001);
        BinaryPrimitives.WriteUInt16LittleEndian(field.AsSpan(2), (ushort)(8 * values.Length));
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(field.AsSpan(4 + (8 * i)), values[i]);
        }

        return field;
    }

    // The last central entry ("m/data/0") given an extra field, with its sizes and offset marked as
    // held there (0xFFFFFFFF) where asked; the end record's directory size follows.
    private static byte[] WithCentralExtra(byte[] zip, byte[] extra, bool sizes, bool offset)
    {
        var at = Central(zip, 1);
        var size = DirectorySize(zip);
        var insertAt = at + CentralHeaderSize + BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 28));
        byte[] result = [.. zip[..insertAt], .. extra, .. zip[insertAt..]];
        Put16(result, at + 30, (ushort)extra.Length);
        if (sizes)
        {
            Put32(result, at + 20, uint.MaxValue);
            Put32(result, at + 24, uint.MaxValue);
        }

        if (offset)
        {
            Put32(result, at + 42, uint.MaxValue);
        }

        Put32(result, EndRecord(result) + 12, (uint)(size + extra.Length));
        return result;
    }

    private static byte[] Valid() => new ZipBuilder().Add("m/data.pkl", Pickle).Add("m/data/0", new byte[16]).ToArray();

    private static int EndRecord(byte[] zip) => zip.Length - EndRecordSize - CommentLength(zip);

    private static int CommentLength(byte[] zip)
    {
        for (var at = zip.Length - EndRecordSize; at >= 0; at--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(at)) == 0x06054b50)
            {
                return zip.Length - EndRecordSize - at;
            }
        }

        throw new InvalidOperationException("no end record");
    }

    private static int DirectorySize(byte[] zip) => (int)BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(EndRecord(zip) + 12));

    private static int Central(byte[] zip, int index)
    {
        var at = (int)BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(EndRecord(zip) + 16));
        for (var i = 0; i < index; i++)
        {
            at += CentralHeaderSize + BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 28)) + BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 30)) + BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 32));
        }

        return at;
    }

    private static void Put16(byte[] zip, int at, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(zip.AsSpan(at), value);

    private static void Put32(byte[] zip, int at, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(zip.AsSpan(at), value);

    private static Task<TorchArchive> OpenAsync(byte[] zip, ArchiveLimits? limits = null) =>
        TorchArchive.OpenAsync(new MemorySource(zip, "x.pt"), limits);

    private static async Task<ArtifactFormatException> RefusedAsync(byte[] zip, ArchiveLimits? limits = null) =>
        await Assert.ThrowsAsync<ArtifactFormatException>(() => OpenAsync(zip, limits));
}
