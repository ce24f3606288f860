using TorchFerry.Format.Conversion;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Conversion;

/// <summary>The whole-or-nothing file: both racers past the existence check, only one lands without --force; modes, refusals, and what paths are, asked of the kernel.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
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

    [Theory]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead)]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)]
    public async Task Create_WithAMode_NeverWidensItWhileWriting_AndCommitsExactlyIt(UnixFileMode mode)
    {
        using var folder = new TemporaryDirectory();
        var destination = folder.File("out.pt");
        await using var file = AtomicFile.Create(destination, mode);
        await file.Stream.WriteAsync("half"u8.ToArray());

        // Half-written: at most the mode asked for (the umask may take bits away, never add them).
        var temporary = Assert.Single(Directory.GetFiles(folder.Path, ".out.pt.*.tmp"));
        Assert.Equal((UnixFileMode)0, File.GetUnixFileMode(temporary) & ~mode);

        await file.CommitAsync(durable: true, default);

        Assert.Equal(mode, File.GetUnixFileMode(destination));
        Assert.Equal(["out.pt"], Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Create_IntoAFolderOrAMissingFolderOrOverADevice_IsRefusedSayingWhich()
    {
        using var folder = new TemporaryDirectory();

        Assert.Equal($"{folder.Path}: is a directory; give a file name", Assert.Throws<IOException>(() => AtomicFile.Create(folder.Path)).Message);
        Assert.Equal($"{folder.File("no/out.pt")}: folder '{folder.File("no")}' does not exist", Assert.Throws<DirectoryNotFoundException>(() => AtomicFile.Create(folder.File("no/out.pt"))).Message);
        Assert.Equal("/dev/null: is not a regular file (a device, a pipe or a socket); TorchFerry writes only regular files", Assert.Throws<IOException>(() => AtomicFile.Create("/dev/null")).Message);
        Assert.Empty(Directory.GetFileSystemEntries(folder.Path));
    }

    [Fact]
    public void Identify_ReadsWhatStatReads()
    {
        using var folder = new TemporaryDirectory();
        var file = folder.File("a.pt");
        File.WriteAllText(file, "x");
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherExecute);

        foreach (var path in new[] { file, Path.Combine(RepositoryPaths.Root, "README.md") })
        {
            // coreutils' stat: major and minor device numbers, inode, octal mode.
            var fields = Stat(path).Split(' ');
            var identity = LocalFiles.Identify(path)!.Value;
            Assert.Equal((ulong.Parse(fields[0]) << 32) | ulong.Parse(fields[1]), identity.Device);
            Assert.Equal(ulong.Parse(fields[2]), identity.Inode);
            Assert.Equal(Convert.ToInt32(fields[3], 8), (int)identity.Mode);
            Assert.True(identity.IsRegular);
        }

        Assert.False(LocalFiles.Identify(folder.Path)!.Value.IsRegular);
        Assert.Null(LocalFiles.Identify(folder.File("a.pt/below"))); // a path through a file: ENOTDIR, nothing there
    }

    [Fact]
    public void MoveNoReplace_OntoNothing_Moves_OntoAFile_KeepsBoth()
    {
        using var folder = new TemporaryDirectory();
        File.WriteAllText(folder.File("a"), "a");
        File.WriteAllText(folder.File("b"), "b");

        var error = Assert.Throws<IOException>(() => LocalFiles.MoveNoReplace(folder.File("a"), folder.File("b")));
        Assert.Equal((17, $"{folder.File("b")}: already exists"), (error.HResult, error.Message));
        Assert.Equal(("a", "b"), (File.ReadAllText(folder.File("a")), File.ReadAllText(folder.File("b"))));

        LocalFiles.MoveNoReplace(folder.File("a"), folder.File("c"));
        Assert.Equal(["b", "c"], Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName).Order());
        Assert.Equal("a", File.ReadAllText(folder.File("c")));
    }

    private static string Stat(string path)
    {
        using var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-L", "-c", "%Hd %Ld %i %a", path]) { RedirectStandardOutput = true })!;
        var output = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        Assert.True(stat.ExitCode == 0, $"stat {path} exited {stat.ExitCode}");
        return output;
    }
}
