using System.Security.Cryptography;
using TorchFerry.TestSupport;

namespace TorchFerry.Cli.Tests.Commands;

/// <summary>
/// convert on a real XFS file system with reflink, loop-mounted: the converted archive shares the
/// source's blocks (the kernel's FIEMAP says so), costs no space for them, and loads on the CPU in
/// PyTorch; where the kernel cannot clone (another file system) it copies instead.
/// </summary>
[Collection(TorchCollection.Name)]
public sealed class ConvertOnReflinkTests(TorchFixtures fixtures, ReflinkVolume volume) : IClassFixture<ReflinkVolume>
{
    [Fact]
    public async Task Convert_OnXfsWithReflink_SharesTheSourcesBlocks_UsesNoSpaceForThem_AndLoadsOnCpu()
    {
        var source = Path.Combine(volume.Path, "large-cuda.pt");
        var destination = Path.Combine(volume.Path, "large-cpu.pt");
        File.Copy(fixtures.GpuFile("large"), source, overwrite: true);
        File.Delete(destination);
        var sourceHash = SHA256.HashData(await File.ReadAllBytesAsync(source));
        var free = volume.FreeBytes;

        var (exitCode, output, error) = await CliRunner.RunAsync("convert", source, destination, "--device", "cpu");

        Assert.Equal(0, exitCode);
        Assert.Empty(error);
        Assert.Contains("cloned (blocks shared with the source)", output, StringComparison.Ordinal);
        Assert.Matches(@", \d+(\.\d)? (B|KiB) through this process", output); // the directory and the pickle, not the records
        var size = new FileInfo(destination).Length;
        Assert.True(ReflinkVolume.SharedBytes(destination) > size - (64 << 10), $"{ReflinkVolume.SharedBytes(destination)} of {size} bytes shared with the source");
        Assert.True(free - volume.FreeBytes < 1 << 20, $"the conversion took {free - volume.FreeBytes} bytes of disk for a {size}-byte archive");
        Assert.Equal(sourceHash, SHA256.HashData(await File.ReadAllBytesAsync(source)));
        Assert.Empty(fixtures.Torch.Compare("large", destination).Problems);
    }

    [Fact]
    public async Task Convert_OnXfs_CorruptStorage_IsClonedUnchecked_ButRefusedWithVerifyClones()
    {
        // A clone is the source's own blocks: checking its CRCs reads the source only to learn whether it was already corrupt.
        var source = Path.Combine(volume.Path, "corrupt-cuda.pt");
        var bytes = await File.ReadAllBytesAsync(fixtures.GpuFile("large"));
        bytes[bytes.Length / 2] ^= 0xFF; // inside the 16 MiB embedding's record
        await File.WriteAllBytesAsync(source, bytes);

        var cloned = await CliRunner.RunAsync("convert", source, Path.Combine(volume.Path, "corrupt-cpu.pt"), "--device", "cpu", "--force");
        var verified = await CliRunner.RunAsync("convert", source, Path.Combine(volume.Path, "corrupt-verified.pt"), "--device", "cpu", "--verify-clones");

        Assert.Equal(0, cloned.ExitCode);
        Assert.Contains("cloned", cloned.Output, StringComparison.Ordinal);
        Assert.Equal(1, verified.ExitCode);
        Assert.Contains("fails its CRC check", verified.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(volume.Path, "corrupt-verified.pt")));
    }

    [Fact]
    public async Task Convert_FromAnotherFileSystem_CopiesInstead_AndLoadsOnCpu()
    {
        var destination = Path.Combine(volume.Path, "copied-cpu.pt");

        var (exitCode, output, error) = await CliRunner.RunAsync("convert", fixtures.GpuFile("large"), destination, "--device", "cpu", "--force");

        Assert.Equal(0, exitCode);
        Assert.Empty(error);
        Assert.DoesNotContain("cloned", output, StringComparison.Ordinal);
        Assert.Contains("copied by the kernel", output, StringComparison.Ordinal);
        Assert.Equal(0, ReflinkVolume.SharedBytes(destination));
        Assert.Empty(fixtures.Torch.Compare("large", destination).Problems);
    }
}
