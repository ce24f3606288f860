using System.Text.Json;
using TorchFerry.Format.Inspection;
using TorchFerry.TestSupport;

namespace TorchFerry.Cli.Tests.Commands;

[Collection(TorchCollection.Name)]
public sealed class InspectCommandTests(TorchFixtures fixtures)
{
    [Fact]
    public async Task Inspect_Json_RoundTripsToTheDocumentedShape()
    {
        var (exitCode, output, error) = await CliRunner.RunAsync("inspect", fixtures.GpuFile("checkpoint_dict"), "--json");

        Assert.Equal(0, exitCode);
        Assert.Empty(error);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal(1, root.GetProperty("schemaVersion").GetInt32());
        Assert.Equal("checkpoint", root.GetProperty("kind").GetString());
        Assert.Equal(10, root.GetProperty("hyperparameters").GetProperty("epochs").GetInt32());
        var tensor = root.GetProperty("tensors").EnumerateArray().First(t => t.GetProperty("path").GetString() == "module_state_dict.fc1.weight");
        Assert.Equal("float32", tensor.GetProperty("dtype").GetString());
        Assert.Equal([4L, 6L], tensor.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal("cuda:0", tensor.GetProperty("location").GetString());
        Assert.Equal(96, tensor.GetProperty("bytes").GetInt64());
        var description = JsonSerializer.Deserialize<ArtifactDescription>(output, InspectJson.Options)!;
        Assert.Equal(ArtifactKind.Checkpoint, description.Kind);
    }

    [Fact]
    public async Task Inspect_Text_ShowsKindTotalsAndOneRowPerTensor()
    {
        var (exitCode, output, _) = await CliRunner.RunAsync("inspect", fixtures.GpuFile("module"));

        Assert.Equal(0, exitCode);
        Assert.Contains("module torchferry_fixture_models.Net", output, StringComparison.Ordinal);
        Assert.Matches(@"fc1\.weight\s+float32\s+\(4, 6\)\s+\(6, 1\)", output);
    }

    [Fact]
    public async Task Inspect_Text_SaysWhatStopsAWeightsOnlyLoadPerTorchRelease()
    {
        var (exitCode, output, _) = await CliRunner.RunAsync("inspect", fixtures.GpuFile("checkpoint_dict"));

        Assert.Equal(0, exitCode);
        Assert.Contains("  weights_only (torch 1.13): refused, because of opcode BINFLOAT (a float)\n", output, StringComparison.Ordinal);
        Assert.Contains("  weights_only (torch 2.6): loads\n", output, StringComparison.Ordinal);
    }
}
