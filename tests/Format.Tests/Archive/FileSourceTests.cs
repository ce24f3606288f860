using System.IO.Compression;
using TorchFerry.Format.Archive;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Archive;

/// <summary>
/// A local file read by offset and by range: each way it ends early is a truncation naming the
/// byte, what was read is counted, a range never reads past itself, and an inflating stream stops
/// at its declared size.
/// </summary>
public sealed class FileSourceTests : IDisposable
{
    private readonly TemporaryDirectory folder = new();

    [Fact]
    public void Open_AFolderOrNothing_SaysWhich()
    {
        var directory = Assert.Throws<ArtifactFormatException>(() => FileSource.Open(folder.Path));
        Assert.Equal((FormatErrorKind.NotAnArchive, $"{folder.Path}: is a directory, not a torch.save file"), (directory.Kind, directory.Message));

        var missing = Assert.Throws<FileNotFoundException>(() => FileSource.Open(folder.File("missing.pt")));
        Assert.Equal($"{folder.File("missing.pt")}: no such file", missing.Message);
    }

    [Fact]
    public async Task ReadExactly_PastTheEnd_IsTruncationAtTheFirstMissingByte_AndCountsNothing()
    {
        using var source = FileSource.Open(File(1000));

        var error = await Assert.ThrowsAsync<ArtifactFormatException>(() => source.ReadExactlyAsync(900, new byte[200], default).AsTask());

        Assert.Equal((FormatErrorKind.Truncated, $"{source.Name}: unexpected end of file at byte 1000 (truncated file?)"), (error.Kind, error.Message));
        await source.ReadExactlyAsync(0, new byte[300], default);
        Assert.Equal(300, source.BytesRead);
    }

    [Fact]
    public async Task OpenRange_ReadsOnlyItsRange_AndCountsWhatItRead()
    {
        var path = File(1000);
        using var source = FileSource.Open(path);
        await using var range = source.OpenRange(100, 250);
        var read = new MemoryStream();

        await range.CopyToAsync(read, 64);

        Assert.Equal(System.IO.File.ReadAllBytes(path).AsSpan(100, 250).ToArray(), read.ToArray());
        Assert.Equal(250, source.BytesRead);
        Assert.Equal(0, await range.ReadAsync(new byte[10]));
        Assert.Equal((250L, 250L), (range.Length, range.Position));
    }

    [Fact]
    public async Task OpenRange_PastTheEndOfTheFile_IsTruncationAtTheFirstMissingByte()
    {
        using var source = FileSource.Open(File(1000));
        await using var range = source.OpenRange(900, 200);
        var buffer = new byte[200];
        Assert.Equal(100, await range.ReadAsync(buffer));

        var error = await Assert.ThrowsAsync<ArtifactFormatException>(() => range.ReadAsync(buffer).AsTask());

        Assert.Equal((FormatErrorKind.Truncated, $"{source.Name}: unexpected end of file at byte 1000 (truncated file?)"), (error.Kind, error.Message));
    }

    [Theory]
    [InlineData(1000, 1000, false)] // exactly the declared size
    [InlineData(1001, 1000, true)] // one byte more
    public async Task Inflating_StopsAtTheDeclaredSize(int actual, int declared, bool refused)
    {
        var content = Enumerable.Range(0, actual).Select(i => (byte)(i % 251)).ToArray();
        var deflated = new MemoryStream();
        await using (var deflate = new DeflateStream(deflated, CompressionLevel.Optimal, leaveOpen: true))
        {
            await deflate.WriteAsync(content);
        }

        var path = folder.File($"deflated-{actual}");
        await System.IO.File.WriteAllBytesAsync(path, deflated.ToArray());
        using var source = FileSource.Open(path);
        var entry = new ZipEntry("m/data/0", ZipEntry.Deflated, 0, deflated.Length, declared, 0, 0);
        await using var stream = TorchArchive.OpenInflated(source, entry);
        var read = new MemoryStream();

        var copy = stream.CopyToAsync(read, 100);

        if (refused)
        {
            var error = await Assert.ThrowsAsync<ArtifactFormatException>(() => copy);
            Assert.Equal((FormatErrorKind.LimitExceeded, $"{source.Name}: record 'm/data/0' inflates beyond its declared {declared} bytes (corrupt archive or zip bomb)"), (error.Kind, error.Message));
        }
        else
        {
            await copy;
            Assert.Equal(content, read.ToArray());
        }

        Assert.Equal(Math.Min(actual, declared), stream.Position);
    }

    public void Dispose() => folder.Dispose();

    private string File(int length) => RandomFile.Write(folder.File($"file-{length}"), length);
}
