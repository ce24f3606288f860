using TorchFerry.TestSupport;

namespace TorchFerry.Cli.Tests.Hostile;

/// <summary>
/// Archives made to hurt (deep, shared, huge, lying, code-running) through the real process: each
/// is read or refused in one line naming it (exit 0 or 1, never 70 or a crash), within 10 seconds
/// and a 128 MiB heap, leaving nothing behind, and nothing it names is ever run.
/// </summary>
[Collection(TorchCollection.Name)]
public sealed class HostileArchiveTests(TorchFixtures fixtures)
{
    private static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(10);

    public static TheoryData<string> Cases => new(HostileArchives.All("/unused").Select(c => c.Name));

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task HostileArchive_IsReadOrRefusedInOneLine_WithinTimeAndMemory_LeavingNothing(string name)
    {
        using var folder = new TemporaryDirectory();
        var marker = folder.File("marker");
        var (_, archive, readable) = HostileArchives.All(marker).Single(c => c.Name == name);
        var input = folder.File("hostile.pt");
        await File.WriteAllBytesAsync(input, archive);
        var output = folder.File("out.pt");

        var inspect = await TorchferryProcess.RunAsync(["inspect", input]);
        var json = await TorchferryProcess.RunAsync(["inspect", "--json", input]);
        var convert = await TorchferryProcess.RunAsync(["convert", input, output, "--device", "cpu"]);

        foreach (var run in new[] { inspect, json, convert })
        {
            Assert.True(run.Elapsed < TimeLimit, $"{name}: took {run.Elapsed.TotalSeconds:0.0} s");
            Assert.DoesNotContain('\u001b', run.Output + run.Error);
            if (readable)
            {
                Assert.True(run.ExitCode == 0, $"{name}: exit {run.ExitCode}: {run.Error}");
            }
            else
            {
                Assert.True(run.ExitCode == 1, $"{name}: exit {run.ExitCode}: {run.Error}");
                var line = Assert.Single(run.Error.TrimEnd('\n').Split('\n'));
                Assert.StartsWith($"torchferry: {input}", line, StringComparison.Ordinal);
            }
        }

        string[] expected = readable ? ["hostile.pt", "out.pt"] : ["hostile.pt"];
        Assert.Equal(expected, Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.False(File.Exists(marker));
        if (readable)
        {
            Assert.Null(fixtures.Torch.LoadError(output));
        }
    }

    [Theory]
    [InlineData("torch+os.system")]
    [InlineData("builtins+getattr.__self__.eval")]
    [InlineData("timeit.timeit")]
    [InlineData("cProfile.run")]
    [InlineData("pydoc.pipepager")]
    public async Task CodeRunningPayload_RunsInARealTorchLoad_ButTorchFerryRefusesIt(string name)
    {
        using var folder = new TemporaryDirectory();
        var marker = folder.File("marker");
        var input = folder.File("payload.pt");
        await File.WriteAllBytesAsync(input, HostileArchives.All(marker).Single(c => c.Name == name).Archive);

        // The payload is real: a plain torch.load (what a consumer of the converted file would do) runs it.
        // In a process of its own: what the payload prints must not reach the shared oracle's protocol.
        using (var python = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(TorchOracle.Python, ["-c", "import sys, torch; torch.load(sys.argv[1])", input]) { RedirectStandardOutput = true, RedirectStandardError = true })!)
        {
            await Task.WhenAll(python.StandardOutput.ReadToEndAsync(), python.StandardError.ReadToEndAsync(), python.WaitForExitAsync());
        }

        Assert.True(File.Exists(marker), $"{name}: the payload did not run in torch.load, so this test proves nothing");
        File.Delete(marker);

        var convert = await TorchferryProcess.RunAsync(["convert", input, folder.File("out.pt"), "--device", "cpu"]);
        var inspect = await TorchferryProcess.RunAsync(["inspect", input]);

        Assert.Equal(1, convert.ExitCode);
        Assert.Equal(1, inspect.ExitCode);
        Assert.EndsWith("loading it would run code, so TorchFerry refuses to read or carry it", convert.Error.TrimEnd(), StringComparison.Ordinal);
        Assert.False(File.Exists(folder.File("out.pt")));
        Assert.False(File.Exists(marker));
    }
}
