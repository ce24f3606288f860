using System.Diagnostics;
using System.Text.RegularExpressions;
using TorchFerry.TestSupport;

namespace TorchFerry.Cli.Tests.Commands;

/// <summary>
/// What a crash right after a conversion leaves: the shipped binary, watched by strace, flushes the
/// temporary file to disk before it renames it into place, unless told <c>--no-fsync</c>. The file
/// appears whole or not at all either way; this is whether it is still there after a power cut.
/// </summary>
[Collection(TorchCollection.Name)]
public sealed partial class ConvertDurabilityTests(TorchFixtures fixtures)
{
    private const string Strace = "/usr/bin/strace";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Convert_FlushesTheFileBeforeRenamingItIntoPlace_UnlessToldNot(bool noFsync)
    {
        if (!File.Exists(Strace))
        {
            throw new InvalidOperationException($"{Strace} is missing: run scripts/install-test-deps.sh (Debian's strace)");
        }

        using var folder = new TemporaryDirectory();
        var destination = folder.File("cpu.pt");
        var log = folder.File("strace.log");
        string[] args = ["-f", "-qq", "-y", "-o", log, "-e", "trace=fsync,fdatasync,rename,renameat,renameat2", PublishedImage.Cli,
            "convert", fixtures.GpuFile("checkpoint_dict"), destination, "--device", "cpu", .. (noFsync ? new[] { "--no-fsync" } : [])];
        using var process = Process.Start(new ProcessStartInfo(Strace, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, await error);

        var calls = (await File.ReadAllLinesAsync(log)).ToList();
        var rename = calls.FindIndex(c => RenameIntoPlace().IsMatch(c) && c.Contains(destination, StringComparison.Ordinal));
        Assert.True(rename >= 0, "no rename into place:\n" + string.Join('\n', calls));
        var flushes = calls.Take(rename).Count(c => FlushOfTheTemporaryFile().IsMatch(c));
        Assert.True(noFsync ? flushes == 0 : flushes >= 1, $"{flushes} flushes of the temporary file before its rename:\n{string.Join('\n', calls)}");
        Assert.Null(fixtures.Torch.LoadError(destination));
    }

    [GeneratedRegex(@"\brename(at2?)?\(")]
    private static partial Regex RenameIntoPlace();

    // fsync(7</tmp/…/.cpu.pt.<guid>.tmp>) = 0, with the descriptor's path as strace -y shows it.
    [GeneratedRegex(@"\bf(data)?sync\(\d+<[^>]*/\.cpu\.pt\.[0-9a-f]{32}\.tmp>\) = 0")]
    private static partial Regex FlushOfTheTemporaryFile();
}
