using Microsoft.Win32.SafeHandles;
using TorchFerry.Format.Archive;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Archive;

/// <summary>
/// copy_file_range and FICLONERANGE as the kernel answers them: slices past 32 MiB land where they
/// belong, a source that ends early or a destination that cannot be written is an error naming
/// how far it got, and what the kernel cannot do at all is "no" with nothing changed.
/// </summary>
public sealed class KernelCopyTests(ReflinkVolume volume) : IClassFixture<ReflinkVolume>, IDisposable
{
    private readonly TemporaryDirectory folder = new();
    private readonly string prefix = Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public void Copy_LongerThanOneSlice_CopiesEveryByteToItsOffset()
    {
        var length = (40L << 20) + 3; // a 32 MiB slice and a partial one
        var source = Source(folder.File("big"), (int)length + 1000 + 4096); // more after the range, never copied
        var destination = folder.File("copy");
        using (var input = File.OpenHandle(source))
        using (var output = File.OpenHandle(destination, FileMode.CreateNew, FileAccess.Write))
        {
            Assert.True(KernelCopy.TryCopy(input, 1000, output, 10, length, startWriteback: true));
        }

        var written = File.ReadAllBytes(destination);
        Assert.Equal(10 + length, written.Length);
        Assert.True(written.AsSpan(10).SequenceEqual(File.ReadAllBytes(source).AsSpan(1000, (int)length)), "copied bytes differ from the source's");
    }

    [Fact]
    public void Copy_PastTheSourcesEnd_SaysHowFarItGot()
    {
        var source = Source(folder.File("short"), 5000);
        using var input = File.OpenHandle(source);
        using var output = File.OpenHandle(folder.File("copy"), FileMode.CreateNew, FileAccess.Write);

        var error = Assert.Throws<IOException>(() => KernelCopy.TryCopy(input, 1000, output, 0, 8000));

        Assert.Equal("copy_file_range reached the end of the source after 4000 of 8000 bytes (truncated file?)", error.Message);
    }

    [Fact]
    public void Copy_IntoAFileOpenForReading_IsAnErrorNotAFallback()
    {
        var source = Source(folder.File("a"), 5000);
        var target = Source(folder.File("b"), 10);
        using var input = File.OpenHandle(source);
        using var output = File.OpenHandle(target, FileMode.Open, FileAccess.Read);

        var error = Assert.Throws<IOException>(() => KernelCopy.TryCopy(input, 0, output, 0, 5000));

        Assert.Equal("copy_file_range failed with errno 9 after 0 of 5000 bytes", error.Message); // EBADF
    }

    [Fact]
    public void Copy_FromAPipe_IsNotForTheKernel_AndWritesNothing()
    {
        using var pipe = new System.IO.Pipes.AnonymousPipeServerStream(System.IO.Pipes.PipeDirection.Out);
        using var reader = new SafeFileHandle(pipe.ClientSafePipeHandle.DangerousGetHandle(), ownsHandle: false);
        var destination = folder.File("copy");
        using var output = File.OpenHandle(destination, FileMode.CreateNew, FileAccess.Write);

        Assert.False(KernelCopy.TryCopy(reader, 0, output, 0, 100));

        Assert.Equal(0, new FileInfo(destination).Length);
    }

    [Fact]
    public void Copy_Cancelled_CopiesNothing()
    {
        var source = Source(folder.File("a"), 5000);
        var destination = folder.File("copy");
        using var input = File.OpenHandle(source);
        using var output = File.OpenHandle(destination, FileMode.CreateNew, FileAccess.Write);

        Assert.Throws<OperationCanceledException>(() => KernelCopy.TryCopy(input, 0, output, 0, 5000, cancellationToken: new CancellationToken(canceled: true)));

        Assert.Equal(0, new FileInfo(destination).Length);
    }

    [Fact]
    public void Clone_OnXfs_AlignedRangeIsShared_UnalignedOrEmptyIsNot()
    {
        var source = Source(Path.Combine(volume.Path, prefix + "src"), 64 * 4096);
        var destination = Path.Combine(volume.Path, prefix + "dst");
        using (var input = File.OpenHandle(source))
        using (var output = File.OpenHandle(destination, FileMode.CreateNew, FileAccess.Write))
        {
            Assert.False(KernelCopy.TryClone(input, 100, output, 0, 8 * 4096)); // EINVAL: not on a block boundary
            Assert.False(KernelCopy.TryClone(input, 4096, output, 0, 0));
            Assert.True(KernelCopy.TryClone(input, 4096, output, 2 * 4096, 8 * 4096));
        }

        Assert.Equal(8 * 4096, ReflinkVolume.SharedBytes(destination));
        var written = File.ReadAllBytes(destination);
        Assert.True(written.AsSpan(2 * 4096).SequenceEqual(File.ReadAllBytes(source).AsSpan(4096, 8 * 4096)), "cloned bytes differ from the source's");
        using var handle = File.OpenHandle(source);
        Assert.Equal(4096, KernelCopy.BlockSize(handle));
    }

    [Fact]
    public void Clone_WhereTheFileSystemCannot_IsNo()
    {
        // The test machine's temporary folder (ext4 or overlay), and from it into XFS: another file system.
        var source = Source(folder.File("a"), 16 * 4096);
        using var input = File.OpenHandle(source);
        using (var output = File.OpenHandle(folder.File("b"), FileMode.CreateNew, FileAccess.Write))
        {
            Assert.False(KernelCopy.TryClone(input, 0, output, 0, 8 * 4096));
        }

        using (var across = File.OpenHandle(Path.Combine(volume.Path, prefix + "across"), FileMode.CreateNew, FileAccess.Write))
        {
            Assert.False(KernelCopy.TryClone(input, 0, across, 0, 8 * 4096));
        }

        Assert.Equal(0, new FileInfo(folder.File("b")).Length);
    }

    public void Dispose()
    {
        foreach (var file in Directory.GetFiles(volume.Path, prefix + "*"))
        {
            File.Delete(file);
        }

        folder.Dispose();
    }

    private static string Source(string path, int length) => RandomFile.Write(path, length);
}
