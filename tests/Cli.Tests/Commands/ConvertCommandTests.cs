using TorchFerry.TestSupport;

namespace TorchFerry.Cli.Tests.Commands;

[Collection(TorchCollection.Name)]
public sealed class ConvertCommandTests(TorchFixtures fixtures)
{
    [Fact]
    public async Task Convert_CudaCheckpoint_LoadsOnCpuWithoutMapLocation()
    {
        using var folder = new TemporaryDirectory();
        var destination = folder.File("cpu.pt");

        var (exitCode, output, error) = await CliRunner.RunAsync("convert", fixtures.GpuFile("checkpoint_dict"), destination, "--device", "cpu");

        Assert.Equal(0, exitCode);
        Assert.Empty(error);
        Assert.Contains("storages relocated (cuda:0 ×", output, StringComparison.Ordinal);
        Assert.Empty(fixtures.Torch.Compare("checkpoint_dict", destination).Problems);
    }

    [Fact]
    public async Task Convert_AlreadyOnTarget_SaysSoAndStillWrites()
    {
        using var folder = new TemporaryDirectory();
        var first = folder.File("first.pt");
        var second = folder.File("second.pt");
        await CliRunner.RunAsync("convert", fixtures.GpuFile("tensor"), first, "--device", "cpu");

        var (exitCode, output, _) = await CliRunner.RunAsync("convert", first, second, "--device", "cpu");

        Assert.Equal(0, exitCode);
        Assert.Contains("already on cpu", output, StringComparison.Ordinal);
        Assert.Null(fixtures.Torch.LoadError(second));
    }

    [Fact]
    public async Task ConvertWeightsOnly_HeldHyperparameterObjects_LoadWithTorchsWeightsOnlyLoader()
    {
        using var folder = new TemporaryDirectory();
        var destination = folder.File("cpu.pt");
        var source = fixtures.GpuFile("checkpoint_held");

        var (exitCode, output, error) = await CliRunner.RunAsync("convert", source, destination, "--device", "cpu", "--weights-only");

        Assert.Equal(0, exitCode);
        Assert.Empty(error);
        Assert.Contains("; for weights_only: torchferry_fixture_models.AttrDict → dict (1 object), ", output, StringComparison.Ordinal);
        Assert.Contains("torchferry_fixture_models.Settings → dict (1 object)", output, StringComparison.Ordinal);
        Assert.Null(fixtures.Torch.LoadError(destination, weightsOnly: true));
        Assert.Empty(fixtures.Torch.Compare("checkpoint_held", destination, weightsOnly: true, plain: true).Problems);
    }

    [Fact]
    public async Task ConvertWeightsOnly_WholeModule_FailsWithOneLineAndWritesNothing()
    {
        using var folder = new TemporaryDirectory();
        var source = fixtures.GpuFile("module");

        var (exitCode, output, error) = await CliRunner.RunAsync("convert", source, folder.File("out.pt"), "--device", "cpu", "--weights-only");

        Assert.Equal(1, exitCode);
        Assert.Empty(output);
        Assert.Equal($"torchferry: {source}: cannot be made loadable with torch.load(weights_only=True): it holds a whole torch.nn.Module (torchferry_fixture_models.Net), which a plain dict would not replace: save its state_dict() instead; nothing was converted\n", error);
        Assert.Empty(Directory.GetFileSystemEntries(folder.Path));
    }

    public static TheoryData<string, string> BadInputs => new()
    {
        { "legacy", "legacy torch.save format" },
        { "torchscript", "TorchScript archive" },
        { "evil", "posix.system, in a module that runs code or touches the system; loading it would run code" },
        { "bomb", "zip bomb" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public async Task Convert_BadInput_FailsWithOneClearLineAndWritesNothing(string fixtureCase, string expected)
    {
        using var folder = new TemporaryDirectory();
        var source = fixtures.GpuFile(fixtureCase);

        var (exitCode, output, error) = await CliRunner.RunAsync("convert", source, folder.File("out.pt"), "--device", "cpu");

        Assert.Equal(1, exitCode);
        Assert.Empty(output);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.StartsWith($"torchferry: {source}: ", error, StringComparison.Ordinal);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
        Assert.Empty(Directory.GetFileSystemEntries(folder.Path));
    }

    [Fact]
    public async Task Convert_PickleThatCallsOsSystem_IsRefusedAndNeverRunsIt()
    {
        // The fixture's payload writes torchferry-pwned next to it when unpickled (tests/TestSupport/python/torch_oracle.py).
        using var folder = new TemporaryDirectory();
        var evil = folder.File("evil.pt");
        fixtures.Torch.Make("evil", evil);
        var marker = folder.File("torchferry-pwned");

        var convert = await CliRunner.RunAsync("convert", evil, folder.File("out.pt"), "--device", "cpu");
        var inspect = await CliRunner.RunAsync("inspect", evil);

        Assert.Equal((1, 1), (convert.ExitCode, inspect.ExitCode));
        Assert.Contains("refuses to read or carry it", convert.Error, StringComparison.Ordinal);
        Assert.Contains("refuses to read or carry it", inspect.Error, StringComparison.Ordinal);
        Assert.Equal([evil], Directory.GetFileSystemEntries(folder.Path));

        // The payload is live: Python's unpickler (torch.load without weights_only) runs it. (Saved on
        // the CPU: a cuda:0 tensor before it stops torch.load on this machine first.)
        var loadable = folder.File("evil-cpu.pt");
        fixtures.Torch.Make("evil", loadable, "cpu");
        fixtures.Torch.LoadError(loadable);
        Assert.True(File.Exists(marker), "the fixture's payload did not run under torch.load: this test proves nothing");
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.999)]
    [InlineData(0.02)]
    public async Task Convert_TruncatedFile_FailsClearlyAndWritesNothing(double keep)
    {
        using var folder = new TemporaryDirectory();
        var whole = await File.ReadAllBytesAsync(fixtures.GpuFile("checkpoint_dict"));
        var truncated = folder.File("truncated.pt");
        await File.WriteAllBytesAsync(truncated, whole.AsSpan(0, (int)(whole.Length * keep)).ToArray());
        var output = Path.Combine(folder.Path, "out");
        Directory.CreateDirectory(output);

        var (exitCode, _, error) = await CliRunner.RunAsync("convert", truncated, Path.Combine(output, "out.pt"), "--device", "cpu");

        Assert.Equal(1, exitCode);
        Assert.Matches("truncated|corrupt", error);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
        Assert.Empty(Directory.GetFileSystemEntries(output));
    }

    [Theory]
    [InlineData("--device", "gpu", "--device 'gpu': not a device")]
    [InlineData("--device", "gpu0", "--device 'gpu0': not a device")]
    [InlineData("--device", "mps", "--device 'mps': not a device")]
    [InlineData("--device", "cuda:99999", "--device 'cuda:99999': not a device")]
    [InlineData("--device", "", "--device '': not a device")]
    [InlineData("--device", "CUDA:0", "--device 'CUDA:0': not a device")]
    [InlineData("--map", "cuda:1", "--map 'cuda:1': expected FROM=TO")]
    [InlineData("--map", "mps=cpu", "--map 'mps=cpu': expected FROM=TO")]
    [InlineData("--map", "cuda:1=gpu0", "--map 'cuda:1=gpu0': expected FROM=TO")]
    public async Task Convert_BadDevice_IsAUsageErrorAndWritesNothing(string option, string value, string expected)
    {
        using var folder = new TemporaryDirectory();

        var (exitCode, _, error) = await CliRunner.RunAsync("convert", fixtures.GpuFile("tensor"), folder.File("x.pt"), option, value);

        Assert.Equal(2, exitCode);
        Assert.StartsWith($"torchferry: {expected}", error, StringComparison.Ordinal);
        Assert.Single(error.TrimEnd('\n').Split('\n'));
        Assert.Empty(Directory.GetFileSystemEntries(folder.Path));
    }

    [Fact]
    public async Task Convert_CudaMeansCudaZero_AsTorchRecordsIt()
    {
        using var folder = new TemporaryDirectory();

        var (exitCode, output, _) = await CliRunner.RunAsync("convert", fixtures.GpuFile("tensor"), folder.File("x.pt"), "--device", "cuda");

        Assert.Equal(0, exitCode);
        Assert.Contains("already on cuda:0", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "convert", "a.pt" }, "torchferry: missing argument DST (see 'torchferry convert --help')")]
    [InlineData(new[] { "convert" }, "torchferry: missing argument SRC, DST (see 'torchferry convert --help')")]
    [InlineData(new[] { "convert", "a.pt", "b.pt", "--bogus" }, "torchferry: unknown option '--bogus' (see 'torchferry convert --help')")]
    [InlineData(new[] { "convert", "--bogus" }, "torchferry: unknown option '--bogus' (see 'torchferry convert --help')")]
    [InlineData(new[] { "inspect" }, "torchferry: missing argument URI (see 'torchferry inspect --help')")]
    [InlineData(new[] { "prepare-inputs", "--source", "a.pb", "--target", "b.pb" }, "torchferry: Option '--device' is required (see 'torchferry prepare-inputs --help')")]
    [InlineData(new[] { "frobnicate" }, "torchferry: Unrecognized command or argument 'frobnicate' (see 'torchferry --help')")]
    public async Task BadArguments_ExitTwoNamingTheArgument_WithoutAHelpPage(string[] args, string expected)
    {
        var (exitCode, output, error) = await CliRunner.RunAsync(args);

        Assert.Equal(2, exitCode);
        Assert.Empty(output);
        Assert.Contains(expected, error.Split('\n'));
        Assert.DoesNotContain("Usage:", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Convert_MissingSource_NamesIt()
    {
        using var folder = new TemporaryDirectory();
        var (exitCode, _, error) = await CliRunner.RunAsync("convert", "/nonexistent/model.pt", folder.File("out.pt"), "--device", "cpu");

        Assert.Equal(1, exitCode);
        Assert.Equal("torchferry: /nonexistent/model.pt: no such file\n", error);
        Assert.Empty(Directory.GetFileSystemEntries(folder.Path));
    }
}
