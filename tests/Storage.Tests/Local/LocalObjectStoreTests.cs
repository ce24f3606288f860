using TorchFerry.Format.Archive;
using TorchFerry.TestSupport;

namespace TorchFerry.Storage.Tests.Local;

/// <summary>Local files through the same router the CLI and operator use (the embedded default when no bucket is configured).</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LocalObjectStoreTests : IDisposable
{
    private readonly TemporaryDirectory folder = new();
    private readonly ObjectStoreRouter stores = new(durableLocalWrites: false);

    public void Dispose()
    {
        stores.Dispose();
        folder.Dispose();
    }

    [Fact]
    public async Task Stat_MissingFileOrADirectory_IsNotFound_SayingWhich()
    {
        Directory.CreateDirectory(folder.File("dir"));

        var missing = await Assert.ThrowsAsync<StorageException>(() => Stat("nothing.pt"));
        var directory = await Assert.ThrowsAsync<StorageException>(() => Stat("dir"));

        Assert.Equal((StorageErrorKind.NotFound, $"{folder.File("nothing.pt")}: no such file"), (missing.Kind, missing.Message));
        Assert.Equal((StorageErrorKind.NotFound, $"{folder.File("dir")}: is a directory, not a file"), (directory.Kind, directory.Message));
    }

    [Fact]
    public async Task Stat_ETagChangesWithTheContentOrTheModificationTime()
    {
        var path = folder.File("ck.pt");
        await File.WriteAllBytesAsync(path, new byte[1000]);
        File.SetLastWriteTimeUtc(path, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc));

        var first = await Stat("ck.pt");
        var again = await Stat("ck.pt");
        File.SetLastWriteTimeUtc(path, new DateTime(2026, 1, 1, 0, 0, 1, DateTimeKind.Utc));
        var touched = await Stat("ck.pt");

        Assert.Equal(1000, first.Size);
        Assert.Equal(first, again);
        Assert.Equal($"\"3e8-{new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks:x}\"", first.ETag);
        Assert.NotEqual(first.ETag, touched.ETag);
    }

    [Fact]
    public async Task OpenRead_OfAFileChangedSinceItWasStated_IsRefusedAsChanged()
    {
        var path = folder.File("ck.pt");
        await File.WriteAllBytesAsync(path, [1, 2, 3, 4]);
        var stated = await Stat("ck.pt");

        var source = await Local().OpenReadAsync(StorageUri.Local(path), stated, CancellationToken.None);
        var buffer = new byte[2];
        await source.ReadExactlyAsync(1, buffer, CancellationToken.None);
        Assert.Equal([2, 3], buffer);
        ((IDisposable)source).Dispose();

        await File.AppendAllTextAsync(path, "more");
        var changed = await Assert.ThrowsAsync<StorageException>(() => Local().OpenReadAsync(StorageUri.Local(path), stated, CancellationToken.None));
        Assert.Equal((StorageErrorKind.SourceChanged, $"{path}: changed before it could be read"), (changed.Kind, changed.Message));
    }

    [Fact]
    public async Task Writer_ObjectAppearsOnlyOnComplete_AndAnAbortLeavesNothing()
    {
        var path = folder.File("out.pt");
        await using (var writer = await Local().CreateWriterAsync(StorageUri.Local(path), CancellationToken.None))
        {
            await writer.WriteAsync(new byte[] { 1, 2, 3 }, CancellationToken.None);
            Assert.False(File.Exists(path));
            var info = await writer.CompleteAsync(CancellationToken.None);
            Assert.Equal(await Stat("out.pt"), info);
            Assert.Equal((3L, 3L, 0L), (writer.Position, writer.BytesUploaded, writer.BytesCopiedByStore));
        }

        var aborted = folder.File("aborted.pt");
        var abandoned = await Local().CreateWriterAsync(StorageUri.Local(aborted), CancellationToken.None);
        await abandoned.WriteAsync(new byte[] { 9 }, CancellationToken.None);
        await abandoned.AbortAsync(CancellationToken.None);

        Assert.Equal([1, 2, 3], await File.ReadAllBytesAsync(path));
        Assert.Equal(["out.pt"], Directory.GetFiles(folder.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Writer_WithoutReplace_RefusesAnExistingFile_AndWithReplaceOverwritesIt()
    {
        var path = folder.File("out.pt");
        await File.WriteAllBytesAsync(path, [7]);

        await using (var kept = await Local().CreateWriterAsync(StorageUri.Local(path), CancellationToken.None, new ObjectWriteOptions(Replace: false)))
        {
            await kept.WriteAsync(new byte[] { 1 }, CancellationToken.None);
            await Assert.ThrowsAnyAsync<IOException>(() => kept.CompleteAsync(CancellationToken.None));
        }

        Assert.Equal([7], await File.ReadAllBytesAsync(path));
        await using (var replacing = await Local().CreateWriterAsync(StorageUri.Local(path), CancellationToken.None))
        {
            await replacing.WriteAsync(new byte[] { 1 }, CancellationToken.None);
            await replacing.CompleteAsync(CancellationToken.None);
        }

        Assert.Equal([1], await File.ReadAllBytesAsync(path));
        Assert.Equal(["out.pt"], Directory.GetFiles(folder.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Writer_KeepsTheRequestedPermissions()
    {
        var path = folder.File("out.pt");
        await using var writer = await Local().CreateWriterAsync(StorageUri.Local(path), CancellationToken.None, new ObjectWriteOptions(Mode: UnixFileMode.UserRead | UnixFileMode.UserWrite));
        await writer.WriteAsync(new byte[] { 1 }, CancellationToken.None);
        await writer.CompleteAsync(CancellationToken.None);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public async Task Writer_RangesCopiedByTheKernel_CountAsCopiedByTheStore_NotUploaded()
    {
        var sourcePath = folder.File("source.bin");
        var data = Enumerable.Range(0, 512 * 1024).Select(i => (byte)(i * 7)).ToArray();
        await File.WriteAllBytesAsync(sourcePath, data);
        using var source = FileSource.Open(sourcePath);
        var path = folder.File("out.bin");

        await using var writer = await Local().CreateWriterAsync(StorageUri.Local(path), CancellationToken.None);
        await writer.WriteAsync(data.AsMemory(0, 100), CancellationToken.None);
        Assert.True(await writer.TryCopyRangeAsync(source, 100, data.Length - 100, CancellationToken.None));
        await writer.CompleteAsync(CancellationToken.None);

        Assert.Equal((100L, data.Length - 100L), (writer.BytesUploaded, writer.BytesCopiedByStore));
        Assert.Equal(data, await File.ReadAllBytesAsync(path));
    }

    [Fact]
    public async Task Delete_RemovesTheFile_AndAMissingFileIsNoError()
    {
        var path = folder.File("ck.pt");
        await File.WriteAllBytesAsync(path, [1]);

        await Local().DeleteAsync(StorageUri.Local(path), CancellationToken.None);
        await Local().DeleteAsync(StorageUri.Local(path), CancellationToken.None);

        Assert.False(File.Exists(path));
    }

    [Fact]
    public async Task List_FolderPrefix_GivesEveryFileBeneathInOrder_AndANamePrefixOnlyTheFilesStartingWithIt()
    {
        Directory.CreateDirectory(folder.File("dir/sub"));
        foreach (var name in new[] { "dir/b.pt", "dir/a.pt", "dir/sub/c.pt", "dir/ab.bin", "other.pt" })
        {
            await File.WriteAllBytesAsync(folder.File(name), new byte[name.Length]);
        }

        var everything = await List(folder.File("dir") + "/");
        var named = await List(folder.File("dir/a"));

        Assert.Equal(["dir/a.pt", "dir/ab.bin", "dir/b.pt", "dir/sub/c.pt"], everything.Select(e => e.Name));
        Assert.All(everything, e => Assert.Equal(e.Name.Length, e.Size));
        Assert.Equal(["dir/a.pt", "dir/ab.bin"], named.Select(e => e.Name));
        Assert.Empty(await List(folder.File("absent") + "/"));
        Assert.Empty(await List(folder.File("absent/x")));
    }

    [Fact]
    public async Task ReadAll_ObjectOfExactlyTheLimit_IsRead_OneByteOverIsRefusedBeforeReading()
    {
        var path = folder.File("limit.bin");
        await File.WriteAllBytesAsync(path, [.. Enumerable.Range(0, 100).Select(i => (byte)i)]);
        var uri = StorageUri.Local(path);

        Assert.Equal(await File.ReadAllBytesAsync(path), await Local().ReadAllAsync(uri, 100, CancellationToken.None));
        var error = await Assert.ThrowsAsync<StorageException>(() => Local().ReadAllAsync(uri, 99, CancellationToken.None));
        Assert.Equal((StorageErrorKind.Other, $"{uri}: 100 bytes is over the 99 byte limit"), (error.Kind, error.Message));
    }

    private IObjectStore Local() => stores.For(StorageUri.Local(folder.Path));

    private Task<ObjectInfo> Stat(string name) => Local().StatAsync(StorageUri.Local(folder.File(name)), CancellationToken.None);

    private async Task<List<(string Name, long Size)>> List(string prefix)
    {
        var found = new List<(string, long)>();
        await foreach (var (uri, info) in Local().ListAsync(StorageUri.Local(prefix), CancellationToken.None))
        {
            found.Add((Path.GetRelativePath(folder.Path, uri.Key), info.Size));
        }

        return found;
    }
}
