using TorchFerry.Format.Archive;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Archive;

public sealed class TorchArchiveTests : IDisposable
{
    private readonly TemporaryDirectory folder = new();

    [Fact]
    public async Task Open_HandMadeArchive_ReadsStorageFromAnyRecordOrder()
    {
        var pickle = new PickleBuilder().Proto(2).Tensor1d("FloatStorage", "0", "cuda:0", 4).Stop().ToArray();
        var path = Write(new ZipBuilder().Add("m/data/0", new byte[16]).Add("m/version", "3\n"u8.ToArray()).Add("m/data.pkl", pickle, deflate: true));

        using var source = FileSource.Open(path);
        var archive = await TorchArchive.OpenAsync(source);

        Assert.Equal("m", archive.Root);
        Assert.Equal("m/data.pkl", archive.PickleEntry.Name);
        var storage = Assert.Single(archive.Pickle.Storages.Values);
        Assert.Equal(("cuda:0", 4L, 16L), (storage.Location, storage.Numel, storage.ByteLength));
    }

    [Fact]
    public async Task Open_RecordSizeDisagreesWithPickle_NamesBoth()
    {
        var pickle = new PickleBuilder().Proto(2).Tensor1d("FloatStorage", "0", "cuda:0", 4).Stop().ToArray();
        var path = Write(new ZipBuilder().Add("m/data.pkl", pickle).Add("m/data/0", new byte[12]));

        var error = await OpenFailsAsync(path);

        Assert.Contains("storage '0' declares 4 elements of float32 (16 bytes) but record 'm/data/0' holds 12 bytes", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_MissingStorageRecord_SaysWhichOne()
    {
        var pickle = new PickleBuilder().Proto(2).Tensor1d("FloatStorage", "7", "cpu", 1).Stop().ToArray();
        var path = Write(new ZipBuilder().Add("m/data.pkl", pickle));

        Assert.Contains("storage '7' has no record 'm/data/7'", await OpenFailsAsync(path), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_RecordThatInflatesBeyondItsDeclaredSize_IsRefused()
    {
        var pickle = new PickleBuilder().Proto(2).Tensor1d("ByteStorage", "0", "cpu", 8).Stop().ToArray();
        var path = Write(new ZipBuilder().Add("m/data.pkl", pickle, deflate: true, declaredSize: pickle.Length - 3).Add("m/data/0", new byte[8]));

        Assert.Contains("inflates beyond its declared", await OpenFailsAsync(path), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_PickleCorruptedIntoAnotherValidPickle_IsRefusedByItsCrc()
    {
        // One flipped bit turns cuda:0 into cuda:1: still a pickle the parser accepts, so only the
        // CRC can tell that the bytes are not what was written.
        var pickle = new PickleBuilder().Proto(2).Tensor1d("ByteStorage", "0", "cuda:0", 8).Stop().ToArray();
        var bytes = new ZipBuilder().Add("m/data.pkl", pickle).Add("m/data/0", new byte[8]).ToArray();
        var at = bytes.AsSpan().IndexOf("cuda:0"u8);
        Assert.True(at > 0 && bytes.AsSpan(at + 1).IndexOf("cuda:0"u8) < 0, "the location must appear once, inside data.pkl");
        bytes[at + 5] = (byte)'1';
        var path = Write(bytes);

        Assert.Equal($"{path}: record 'm/data.pkl' fails its CRC check (corrupt archive)", await OpenFailsAsync(path));
    }

    [Theory]
    [InlineData("other/data/0", "lies outside the archive's root folder")]
    [InlineData("m/../escape", "lies outside the archive's root folder")]
    [InlineData("m/data.pkl", "appears twice")]
    public async Task Open_BadRecordName_IsRefused(string name, string expected)
    {
        var pickle = new PickleBuilder().Proto(2).Int(1).Stop().ToArray();
        var path = Write(new ZipBuilder().Add("m/data.pkl", pickle).Add(name, [1]));

        Assert.Contains(expected, await OpenFailsAsync(path), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_ZipWithoutDataPkl_SaysItIsNotATorchArchive()
    {
        var path = Write(new ZipBuilder().Add("m/readme.txt", "hi"u8.ToArray()));

        Assert.Contains("no 'm/data.pkl' record", await OpenFailsAsync(path), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[0], "empty file")]
    [InlineData(new byte[] { 0x80, 0x02, 0x4b, 0x01, 0x2e }, "a bare pickle")]
    [InlineData(new byte[] { 0x7b, 0x22, 0x61, 0x22, 0x3a, 0x31, 0x7d }, "not a torch.save archive")]
    [InlineData(new byte[] { 0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0 }, "too short to be a zip archive")]
    public async Task Open_NotAnArchive_SaysWhatItIs(byte[] content, string expected)
    {
        var path = Write(content);

        Assert.Contains(expected, await OpenFailsAsync(path), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_HighlyCompressedRecords_AreRefusedAsAZipBomb()
    {
        var pickle = new PickleBuilder().Proto(2).Tensor1d("ByteStorage", "0", "cpu", 80L << 20).Stop().ToArray();
        var path = Write(new ZipBuilder().Add("m/data.pkl", pickle).Add("m/data/0", new byte[80 << 20], deflate: true));

        Assert.Contains("zip bomb", await OpenFailsAsync(path), StringComparison.Ordinal);
    }

    public void Dispose() => folder.Dispose();

    [Fact]
    public async Task Open_RecordsFarApart_ReadsTheirHeadersSideBySide_NotTheirData()
    {
        // An object store answers each ranged read after its latency: 21 headers 100 KiB apart are
        // read at once, 30 bytes each, not one after another with 64 KiB of data each.
        var pickle = new PickleBuilder().Proto(2).Tensor1d("FloatStorage", "0", "cuda:0", 4).Stop().ToArray();
        var zip = new ZipBuilder().Add("m/data.pkl", pickle).Add("m/data/0", new byte[16]);
        for (var i = 0; i < 20; i++)
        {
            zip.Add($"m/extra/{i}", new byte[100 * 1024]);
        }

        using var file = FileSource.Open(Write(zip));
        var slow = new SlowSource(file);
        var archive = await TorchArchive.OpenAsync(slow);

        Assert.Equal(22, archive.Entries.Count);
        Assert.True(slow.MostAtOnce > 1, $"at most {slow.MostAtOnce} reads in flight");
        Assert.True(file.BytesRead < 128 * 1024, $"{file.BytesRead} bytes read to open it (the end record search reads 64 KiB, each header 30 bytes)");
    }

    private sealed class SlowSource(FileSource inner) : IRandomAccessSource
    {
        private int inFlight;
        private int most;

        public int MostAtOnce => Volatile.Read(ref most);

        public string Name => inner.Name;

        public long Length => inner.Length;

        public long BytesRead => inner.BytesRead;

        public async ValueTask ReadExactlyAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
        {
            var now = Interlocked.Increment(ref inFlight);
            for (var seen = Volatile.Read(ref most); now > seen && Interlocked.CompareExchange(ref most, now, seen) != seen; seen = Volatile.Read(ref most))
            {
            }

            await Task.Delay(50, cancellationToken);
            Interlocked.Decrement(ref inFlight);
            await inner.ReadExactlyAsync(offset, buffer, cancellationToken);
        }

        public Stream OpenRange(long offset, long length) => inner.OpenRange(offset, length);
    }

    private string Write(ZipBuilder zip) => Write(zip.ToArray());

    private string Write(byte[] bytes)
    {
        var path = folder.File(Guid.NewGuid().ToString("N") + ".pt");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static async Task<string> OpenFailsAsync(string path)
    {
        using var source = FileSource.Open(path);
        var error = await Assert.ThrowsAsync<ArtifactFormatException>(() => TorchArchive.OpenAsync(source));
        Assert.StartsWith(path + ": ", error.Message, StringComparison.Ordinal);
        return error.Message;
    }
}
