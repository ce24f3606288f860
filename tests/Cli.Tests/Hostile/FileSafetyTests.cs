using System.Diagnostics;
using TorchFerry.TestSupport;

namespace TorchFerry.Cli.Tests.Hostile;

/// <summary>
/// File operations that cannot be turned against the machine, through the real process: only
/// regular files are written, the source is recognised however it is named, no-clobber holds under
/// a race, signals and full disks leave nothing behind, and the source's mode is kept.
/// </summary>
[Collection(TorchCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FileSafetyTests(TorchFixtures fixtures)
{
    [Fact]
    public async Task Force_OntoADeviceNode_IsRefusedAndTheDeviceStays()
    {
        var run = await TorchferryProcess.RunAsync(["convert", fixtures.GpuFile("tensor"), "/dev/null", "--device", "cpu", "--force"]);

        Assert.Equal(1, run.ExitCode);
        Assert.Equal("torchferry: /dev/null: is not a regular file (a device, a pipe or a socket); TorchFerry writes only regular files\n", run.Error);
        Assert.Equal("character special file", Stat("%F", "/dev/null"));
    }

    [Fact]
    public async Task Destination_TheSourceThroughASymlinkedFolder_IsRefusedAndTheSourceUnchanged()
    {
        using var folder = new TemporaryDirectory();
        var real = Directory.CreateDirectory(Path.Combine(folder.Path, "real")).FullName;
        var source = Path.Combine(real, "model.pt");
        File.Copy(fixtures.GpuFile("tensor"), source);
        var before = await File.ReadAllBytesAsync(source);
        File.CreateSymbolicLink(Path.Combine(folder.Path, "link"), real);

        var run = await TorchferryProcess.RunAsync(["convert", source, Path.Combine(folder.Path, "link", "model.pt"), "--device", "cpu", "--force"]);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("is the source", run.Error, StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllBytesAsync(source));
        Assert.Equal(["model.pt"], Directory.GetFileSystemEntries(real).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Output_KeepsTheSourcesMode()
    {
        using var folder = new TemporaryDirectory();
        var source = folder.File("secret.pt");
        File.Copy(fixtures.GpuFile("tensor"), source);
        File.SetUnixFileMode(source, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var run = await TorchferryProcess.RunAsync(["convert", source, folder.File("out.pt"), "--device", "cpu"]);

        Assert.Equal(0, run.ExitCode);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(folder.File("out.pt")));
    }

    [Fact]
    public async Task TwoConverts_ToOneDestinationWithoutForce_OnlyOneWins()
    {
        using var folder = new TemporaryDirectory();
        var destination = folder.File("out.pt");
        string[] args = ["convert", fixtures.GpuFile("checkpoint_dict"), destination, "--device", "cpu"];

        var runs = await Task.WhenAll(TorchferryProcess.RunAsync(args), TorchferryProcess.RunAsync(args), TorchferryProcess.RunAsync(args));

        Assert.Single(runs, r => r.ExitCode == 0);
        Assert.All(runs.Where(r => r.ExitCode != 0), r => Assert.Equal($"torchferry: {destination}: already exists; pass --force to replace it\n", r.Error));
        Assert.Equal(["out.pt"], Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName));
        Assert.Null(fixtures.Torch.LoadError(destination));
    }

    [Fact]
    public async Task Sigterm_MidConversion_Exits143_SaysSo_AndLeavesNoTemporaryFile()
    {
        using var folder = new TemporaryDirectory();
        var source = folder.File("big.pt");
        Python("import sys, torch; torch.save(torch.zeros(1 << 30, dtype=torch.uint8), sys.argv[1])", source);

        var run = await TorchferryProcess.RunAsync(["convert", source, folder.File("out.pt"), "--device", "cpu"], whileRunning: process =>
        {
            // Once the temporary file exists the conversion is under way: then send what Kubernetes sends.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (Directory.GetFiles(folder.Path, ".out.pt.*.tmp").Length == 0 && DateTime.UtcNow < deadline && !process.HasExited)
            {
                Thread.Sleep(5);
            }

            Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
        });

        Assert.Equal(143, run.ExitCode);
        Assert.Equal("torchferry: interrupted; nothing was written\n", run.Error);
        Assert.Equal(["big.pt"], Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task FullDisk_FailsInOneLine_AndLeavesNoTemporaryFile()
    {
        using var folder = new TemporaryDirectory();
        var small = Directory.CreateDirectory(Path.Combine(folder.Path, "small")).FullName;
        var mount = Process.Start("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", small])!;
        await mount.WaitForExitAsync();
        Assert.True(mount.ExitCode == 0, "mounting a 1 MiB tmpfs needs root (the tests run as root in CI)");
        try
        {
            var source = folder.File("big.pt");
            Python("import sys, torch; torch.save(torch.zeros(4 << 20, dtype=torch.uint8), sys.argv[1])", source);

            var run = await TorchferryProcess.RunAsync(["convert", source, Path.Combine(small, "out.pt"), "--device", "cpu"]);

            Assert.Equal(1, run.ExitCode);
            Assert.Single(run.Error.TrimEnd('\n').Split('\n'));
            Assert.Contains("No space left on device", run.Error, StringComparison.Ordinal);
            Assert.Empty(Directory.GetFileSystemEntries(small));
        }
        finally
        {
            Process.Start("umount", [small])!.WaitForExit();
        }
    }

    private static string Stat(string format, string path)
    {
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", format, path]) { RedirectStandardOutput = true })!;
        var output = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        return output;
    }

    private static void Python(string code, string argument)
    {
        using var python = Process.Start(new ProcessStartInfo(TorchOracle.Python, ["-c", code, argument]) { RedirectStandardError = true })!;
        var error = python.StandardError.ReadToEnd();
        python.WaitForExit();
        Assert.True(python.ExitCode == 0, error);
    }
}
