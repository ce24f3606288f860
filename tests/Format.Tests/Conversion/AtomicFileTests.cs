using TorchFerry.Format.Conversion;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Conversion;

/// <summary>The whole-or-nothing file: both racers past the existence check, only one lands without --force.</summary>
public sealed class AtomicFileTests
{
    [Fact]
    public async Task Commit_WithoutReplace_SecondWriterLosesEvenAfterBothStarted()
    {
        using var folder = new TemporaryDirectory();
        var destination = folder.File("out.pt");
        await using var first = AtomicFile.Create(destination);
        await using var second = AtomicFile.Create(destination);
        await first.Stream.WriteAsync("first"u8.ToArray());
        await second.Stream.WriteAsync("second"u8.ToArray());

        await first.CommitAsync(durable: false, default, replace: false);
        var error = await Assert.ThrowsAsync<IOException>(() => second.CommitAsync(durable: false, default, replace: false));

        Assert.Equal($"{destination}: already exists; pass --force to replace it", error.Message);
        await second.DisposeAsync();
        Assert.Equal("first", await File.ReadAllTextAsync(destination));
        Assert.Equal(["out.pt"], Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Commit_WithReplace_ReplacesARegularFile_ButCreateRefusesADevice()
    {
        using var folder = new TemporaryDirectory();
        var destination = folder.File("out.pt");
        await File.WriteAllTextAsync(destination, "old");
        await using (var file = AtomicFile.Create(destination))
        {
            await file.Stream.WriteAsync("new"u8.ToArray());
            await file.CommitAsync(durable: false, default);
        }

        Assert.Equal("new", await File.ReadAllTextAsync(destination));
        Assert.Throws<IOException>(() => AtomicFile.Create("/dev/null"));
    }

    [Fact]
    public void Identify_SameFileThroughASymlink_IsTheSameFile()
    {
        using var folder = new TemporaryDirectory();
        var file = folder.File("a.pt");
        File.WriteAllText(file, "x");
        var link = folder.File("b.pt");
        File.CreateSymbolicLink(link, file);

        Assert.True(LocalFiles.Identify(file)!.Value.IsSameFileAs(LocalFiles.Identify(link)!.Value));
        Assert.False(LocalFiles.Identify(file)!.Value.IsSameFileAs(LocalFiles.Identify(Path.Combine(RepositoryPaths.Root, "README.md"))!.Value));
        Assert.Null(LocalFiles.Identify(folder.File("missing.pt")));
        Assert.False(LocalFiles.Identify("/dev/null")!.Value.IsRegular);
    }
}
