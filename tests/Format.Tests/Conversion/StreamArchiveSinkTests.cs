using TorchFerry.Format.Archive;
using TorchFerry.Format.Conversion;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Conversion;

/// <summary>
/// Sharing and kernel copies of ranges, on a real XFS file system with reflink where the kernel
/// decides what is shared: the bytes written are always the source's, whole blocks are shared only
/// where the two files lay them out alike, and a range that cannot be shared leaves nothing behind.
/// </summary>
public sealed class StreamArchiveSinkTests(ReflinkVolume volume) : IClassFixture<ReflinkVolume>, IDisposable
{
    private const int Block = 4096; // mkfs.xfs's default block size
    private readonly TemporaryDirectory plain = new();
    private readonly List<string> files = [];

    [Theory]
    [InlineData(3 * Block + 100, 100, 10 * Block + 50, 9 * Block)] // a partial block in front and behind
    [InlineData(2 * Block, 0, 5 * Block, 5 * Block)] // whole blocks only
    [InlineData(Block + 10, 10, (2 * Block) - 10, Block)] // exactly one whole block, after a partial one
    public async Task ShareRange_LaidOutAlike_SharesTheWholeBlocksAndCopiesTheRest(long offset, int before, long length, long shared)
    {
        var source = SourceFile(volume.Path, 16 * Block);
        var destination = Path.Combine(volume.Path, Guid.NewGuid().ToString("N"));
        files.Add(destination);
        using var input = FileSource.Open(source);
        long position;
        long cloned;
        await using (var output = new FileStream(destination, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            var sink = new StreamArchiveSink(output);
            await sink.WriteAsync(new byte[before], CancellationToken.None);

            Assert.True(await sink.TryShareRangeAsync(input, offset, length, CancellationToken.None));
            position = sink.Position;
            cloned = sink.BytesCloned;
        }

        Assert.Equal(before + length, position);
        Assert.Equal(shared, cloned);
        var written = await File.ReadAllBytesAsync(destination);
        Assert.Equal(before + length, written.Length);
        var expected = await File.ReadAllBytesAsync(source);
        Assert.True(written.AsSpan(before).SequenceEqual(expected.AsSpan((int)offset, (int)length)), "the range's bytes differ from the source's");
        Assert.Equal(shared, ReflinkVolume.SharedBytes(destination));
    }

    [Theory]
    [InlineData(Block + 1, 0, 4 * Block)] // moved by a byte: no block lines up
    [InlineData(Block + 10, 10, (2 * Block) - 11)] // one byte short of holding a whole block
    public async Task ShareRange_NotLaidOutAlikeOrShorterThanABlock_AppendsNothing(long offset, int before, long length)
    {
        var source = SourceFile(volume.Path, 16 * Block);
        var destination = Path.Combine(volume.Path, Guid.NewGuid().ToString("N"));
        files.Add(destination);
        using var input = FileSource.Open(source);
        await using var output = new FileStream(destination, FileMode.CreateNew, FileAccess.ReadWrite);
        var sink = new StreamArchiveSink(output);
        await sink.WriteAsync(new byte[before], CancellationToken.None);

        Assert.False(await sink.TryShareRangeAsync(input, offset, length, CancellationToken.None));

        await output.FlushAsync();
        Assert.Equal((before, 0L, (long)before), (sink.Position, sink.BytesCloned, output.Length));
    }

    [Fact]
    public async Task ShareRange_OnAFileSystemThatCannotShare_TakesItsHeadBackAndAppendsNothing()
    {
        // The test machine's temporary folder: tmpfs, overlay or ext4, none of which clone.
        var source = SourceFile(plain.Path, 16 * Block);
        using var input = FileSource.Open(source);
        await using var output = new FileStream(plain.File("out"), FileMode.CreateNew, FileAccess.ReadWrite);
        var sink = new StreamArchiveSink(output);
        await sink.WriteAsync(new byte[100], CancellationToken.None);

        Assert.False(await sink.TryShareRangeAsync(input, 3 * Block + 100, 10 * Block, CancellationToken.None));

        await output.FlushAsync();
        Assert.Equal((100L, 0L, 100L), (sink.Position, sink.BytesCloned, output.Length));
    }

    [Theory]
    [InlineData(0, 0, 64 * 1024)] // at the threshold: copied by the kernel
    [InlineData(100, 7, 200 * 1024 + 3)] // a head up to the destination's next 64 KiB, then the rest
    public async Task CopyRange_FromTheThresholdOn_CopiesTheSourcesBytes(long offset, int before, int length)
    {
        var source = SourceFile(plain.Path, 512 * 1024);
        var destination = plain.File(Guid.NewGuid().ToString("N"));
        using var input = FileSource.Open(source);
        await using (var output = new FileStream(destination, FileMode.CreateNew, FileAccess.ReadWrite))
        {
            var sink = new StreamArchiveSink(output);
            await sink.WriteAsync(new byte[before], CancellationToken.None);

            Assert.True(await sink.TryCopyRangeAsync(input, offset, length, CancellationToken.None));
            Assert.Equal(before + length, sink.Position);
            Assert.Equal(0, sink.BytesCloned);
        }

        var written = await File.ReadAllBytesAsync(destination);
        Assert.Equal(before + length, written.Length);
        var expected = await File.ReadAllBytesAsync(source);
        Assert.True(written.AsSpan(before).SequenceEqual(expected.AsSpan((int)offset, length)), "the range's bytes differ from the source's");
    }

    [Fact]
    public async Task CopyRange_BelowTheThreshold_IsLeftToTheCaller()
    {
        var source = SourceFile(plain.Path, 128 * 1024);
        using var input = FileSource.Open(source);
        await using var output = new FileStream(plain.File("small"), FileMode.CreateNew, FileAccess.ReadWrite);
        var sink = new StreamArchiveSink(output);

        Assert.False(await sink.TryCopyRangeAsync(input, 0, (64 * 1024) - 1, CancellationToken.None));
        Assert.Equal(0, sink.Position);
    }

    [Fact]
    public async Task Ranges_IntoAStreamThatIsNoFile_AreLeftToTheCaller()
    {
        var source = SourceFile(plain.Path, 128 * 1024);
        using var input = FileSource.Open(source);
        using var memory = new MemoryStream();
        var sink = new StreamArchiveSink(memory);

        Assert.False(await sink.TryShareRangeAsync(input, 0, 64 * 1024, CancellationToken.None));
        Assert.False(await sink.TryCopyRangeAsync(input, 0, 64 * 1024, CancellationToken.None));
        Assert.Equal(TorchZipLayout.Alignment, sink.CopyAlignment);
    }

    [Fact]
    public void CopyAlignment_OnXfs_IsItsBlockSize()
    {
        using var output = new FileStream(Path.Combine(volume.Path, "aligned"), FileMode.Create, FileAccess.ReadWrite);
        files.Add(output.Name);

        Assert.Equal(Block, new StreamArchiveSink(output).CopyAlignment);
    }

    public void Dispose()
    {
        foreach (var file in files)
        {
            File.Delete(file);
        }

        plain.Dispose();
    }

    private string SourceFile(string folder, int size)
    {
        var path = RandomFile.Write(Path.Combine(folder, Guid.NewGuid().ToString("N") + ".src"), size);
        if (folder == volume.Path)
        {
            files.Add(path);
        }

        return path;
    }
}
