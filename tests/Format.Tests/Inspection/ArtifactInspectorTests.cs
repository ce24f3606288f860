using System.Text.Json.Nodes;
using TorchFerry.Format.Inspection;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Inspection;

[Collection(TorchCollection.Name)]
public sealed class ArtifactInspectorTests(TorchFixtures fixtures)
{
    [Theory]
    [InlineData("tensor")]
    [InlineData("module")]
    [InlineData("checkpoint_dict")]
    [InlineData("checkpoint_namedtuple")]
    [InlineData("checkpoint_dataclass")]
    [InlineData("tied_weights")]
    [InlineData("views")]
    [InlineData("noncontiguous")]
    [InlineData("scalars_and_empty")]
    [InlineData("dtypes")]
    [InlineData("deflated")]
    [InlineData("protocol4")]
    [InlineData("protocol5")]
    [InlineData("containers")]
    [InlineData("containers_p4")] // at protocol 4 a set is EMPTY_SET and ADDITEMS, not set([items])
    public async Task Inspect_AgreesWithWhatTorchReports(string fixtureCase)
    {
        var path = fixtures.GpuFile(fixtureCase);

        var description = await DescribeAsync(path);

        var torch = fixtures.Torch.Describe(path).Select(t => t!.AsObject()).OrderBy(t => t["path"]!.GetValue<string>(), StringComparer.Ordinal).ToList();
        var ours = description.Tensors.OrderBy(t => t.Path, StringComparer.Ordinal).ToList();
        Assert.Equal(torch.Select(t => t["path"]!.GetValue<string>()), ours.Select(t => t.Path));
        foreach (var (expected, actual) in torch.Zip(ours))
        {
            Assert.Equal(expected["dtype"]!.GetValue<string>(), actual.Dtype);
            Assert.Equal(Longs(expected["shape"]!), actual.Shape);
            Assert.Equal(Longs(expected["stride"]!), actual.Stride);
            Assert.Equal(expected["storageOffset"]!.GetValue<long>(), actual.StorageOffset);
            Assert.Equal(expected["location"]!.GetValue<string>(), actual.Location);
            Assert.Equal(expected["bytes"]!.GetValue<long>(), actual.Bytes);
            Assert.Equal(expected["isParameter"]!.GetValue<bool>(), actual.IsParameter);
        }

        Assert.Equal(description.Storages.Sum(s => s.Bytes), description.Totals.StorageBytes);
        Assert.Equal(ours.Count, description.Totals.Tensors);
        Assert.Equal(torch.Sum(t => t["bytes"]!.GetValue<long>()), description.Totals.TensorBytes);
        Assert.Equal(
            torch.GroupBy(t => t["dtype"]!.GetValue<string>()).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => (g.Key, g.Count())),
            description.Totals.Dtypes.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, kv.Value)));
        Assert.Equal(
            fixtures.Torch.Locations(path).GroupBy(l => l, StringComparer.Ordinal).Select(g => (g.Key, g.Count())),
            description.Totals.Locations.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, kv.Value)));
        Assert.All(description.Storages, s => Assert.Equal(fixtureCase == "deflated", s.Compressed));
    }

    [Theory]
    [InlineData("tensor", ArtifactKind.Tensor)]
    [InlineData("module", ArtifactKind.Module)]
    [InlineData("tied_weights", ArtifactKind.Module)]
    [InlineData("checkpoint_dict", ArtifactKind.Checkpoint)]
    [InlineData("dtypes", ArtifactKind.StateDict)]
    [InlineData("views", ArtifactKind.StateDict)]
    [InlineData("empty_dict", ArtifactKind.Other)]
    [InlineData("mixed_dict", ArtifactKind.Other)]
    [InlineData("containers", ArtifactKind.Other)]
    public async Task Inspect_TellsTheArtifactKind(string fixtureCase, ArtifactKind kind)
    {
        var description = await DescribeAsync(fixtures.GpuFile(fixtureCase));

        Assert.Equal(kind, description.Kind);
    }

    [Fact]
    public async Task Inspect_Module_NamesTheUserClassWithoutImportingIt()
    {
        var description = await DescribeAsync(fixtures.GpuFile("module"));

        Assert.Equal("torchferry_fixture_models.Net", description.ModuleClass);
        Assert.Contains(description.Tensors, t => t.Path == "fc1.weight" && t.IsParameter && t.RequiresGrad);
        Assert.Contains(description.Tensors, t => t.Path == "running" && !t.IsParameter);
    }

    [Fact]
    public async Task Inspect_Checkpoint_ListsOptimizerStateAndFlatHyperparameters()
    {
        var description = await DescribeAsync(fixtures.GpuFile("checkpoint_dict"));

        Assert.Contains(description.Tensors, t => t.Path == "module_state_dict.fc1.weight");
        Assert.Contains(description.Tensors, t => t.Path == "optimizer_state_dict.state.0.exp_avg");
        Assert.Contains(description.Tensors, t => t.Path == "optimizer_state_dict.state.0.exp_avg_sq");
        var expected = JsonNode.Parse("""{"epochs":10,"learning_rate":0.001,"name":"resnet","tags":["a","b"],"nested":{"k":1}}""");
        Assert.True(JsonNode.DeepEquals(expected, description.Hyperparameters), description.Hyperparameters?.ToJsonString());
    }

    [Theory]
    [InlineData("checkpoint_namedtuple", """{"epochs":3,"learning_rate":0.5,"name":"nt"}""")]
    [InlineData("checkpoint_dataclass", """{"batch_size":32,"dropout":0.1,"layers":[64,32]}""")]
    public async Task Inspect_CheckpointFromNamedTupleOrDataclass_ReadsHyperparameters(string fixtureCase, string json)
    {
        var description = await DescribeAsync(fixtures.GpuFile(fixtureCase));

        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(json), description.Hyperparameters), description.Hyperparameters?.ToJsonString());
    }

    [Fact]
    public async Task Inspect_TiedWeights_ShowBothPathsOnOneStorage()
    {
        var description = await DescribeAsync(fixtures.GpuFile("tied_weights"));

        var storage = Assert.Single(description.Storages);
        Assert.Equal(2, storage.Tensors);
        Assert.Equal(["decoder.weight", "encoder.weight"], description.Tensors.Select(t => t.Path).Order());
    }

    [Fact]
    public async Task Inspect_ConstantTagger_ReadsTheMemoizedLocation()
    {
        var description = await DescribeAsync(fixtures.GpuFile("checkpoint_dict", constantTagger: true));

        Assert.All(description.Storages, s => Assert.Equal("cuda:0", s.Location));
        Assert.Equal(description.Storages.Count, description.Totals.Locations["cuda:0"]);
    }

    private static long[] Longs(JsonNode array) => array.AsArray().Select(n => n!.GetValue<long>()).ToArray();

    private static Task<ArtifactDescription> DescribeAsync(string path) => LocalInspection.DescribeAsync(path);
}
