using TorchFerry.Format.Conversion;
using TorchFerry.Format.Inspection;
using TorchFerry.Format.Pickle;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.WeightsOnly;

/// <summary>
/// <c>convert --weights-only</c>: user objects become the plain values they hold and the result loads
/// with Debian's torch 1.13 under <c>weights_only=True</c>; what would lose data is refused, and
/// every conversion's output loads under weights_only wherever its source would have.
/// </summary>
[Collection(TorchCollection.Name)]
public sealed class WeightsOnlyConversionTests(TorchFixtures fixtures)
{
    private static readonly RelocationOptions WeightsOnly = new() { WeightsOnly = true, Durable = false };

    [Fact]
    public async Task ConvertWeightsOnly_HeldDataclassNamedTupleAndSubclasses_LoadWithWeightsOnlyAsPlainValues()
    {
        var source = fixtures.GpuFile("checkpoint_held");
        var destination = fixtures.Directory.File("held-weights-only.pt");

        var report = await LocalConversion.ConvertAsync(source, destination, DeviceMap.Create("cpu"), overwrite: true, options: WeightsOnly);

        Assert.Null(fixtures.Torch.LoadError(destination, weightsOnly: true));
        var (tensors, problems) = fixtures.Torch.Compare("checkpoint_held", destination, weightsOnly: true, plain: true);
        Assert.Empty(problems);
        Assert.True(tensors > 0);
        Assert.Equal(
            [
                "torchferry_fixture_models.AttrDict → dict (1 object)", "torchferry_fixture_models.Empty → dict (1 object)",
                "torchferry_fixture_models.Schedule → tuple (1 object)", "torchferry_fixture_models.Settings → dict (1 object)",
                "torchferry_fixture_models.TagList → list (1 object)",
            ],
            report.WeightsOnlyChanges);
        Assert.All((await DescribeAsync(destination)).WeightsOnly, v => Assert.True(v.Loads, string.Join(", ", v.BlockedBy)));
    }

    [Fact]
    public async Task ConvertWeightsOnly_WholeModule_IsRefusedAndWritesNothing()
    {
        var destination = fixtures.Directory.File("module-weights-only.pt");

        var error = await Assert.ThrowsAsync<ArtifactFormatException>(() => LocalConversion.ConvertAsync(fixtures.GpuFile("module"), destination, DeviceMap.Create("cpu"), options: WeightsOnly));

        Assert.Equal(FormatErrorKind.Unsupported, error.Kind);
        Assert.Contains("a whole torch.nn.Module (torchferry_fixture_models.Net)", error.Message, StringComparison.Ordinal);
        Assert.Contains("save its state_dict() instead", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(destination));
    }

    [Fact]
    public async Task ConvertWeightsOnly_PlainCheckpoint_ChangesNothingButLocations()
    {
        var plain = fixtures.Directory.File("dict-plain.pt");
        var weightsOnly = fixtures.Directory.File("dict-weights-only.pt");

        await LocalConversion.ConvertAsync(fixtures.GpuFile("checkpoint_dict"), plain, DeviceMap.Create("cpu"), overwrite: true, options: new RelocationOptions { Durable = false });
        var report = await LocalConversion.ConvertAsync(fixtures.GpuFile("checkpoint_dict"), weightsOnly, DeviceMap.Create("cpu"), overwrite: true, options: WeightsOnly);

        Assert.Empty(report.WeightsOnlyChanges!);
        Assert.Equal(await File.ReadAllBytesAsync(plain), await File.ReadAllBytesAsync(weightsOnly));
    }

    [Fact]
    public void Rewrite_ObjectThatContainsItself_IsRefused()
    {
        // obj = Node(); obj.self = obj: the state reads the object's memo slot before BUILD.
        var bytes = new PickleBuilder().Proto(2).Global("app", "Node").EmptyTuple().NewObj().Put(0)
            .EmptyDict().Mark().Str("self").Get(0).SetItems().Build().Stop().ToArray();

        var error = Assert.Throws<ArtifactFormatException>(() => WeightsOnlyRewriter.Rewrite(PickleReader.Parse(bytes, "m.pt"), WeightsOnlyAllowlist.Newest, "m.pt"));

        Assert.Contains("an object of app.Node contains itself", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rewrite_ClassAlsoUsedAsAValue_IsRefused()
    {
        // (Node(), Node) : the class's memo slot is read back as data, so its GLOBAL cannot go.
        var bytes = new PickleBuilder().Proto(2).Mark().Global("app", "Node").Put(0).EmptyTuple().NewObj()
            .Get(0).Tuple().Stop().ToArray();

        var error = Assert.Throws<ArtifactFormatException>(() => WeightsOnlyRewriter.Rewrite(PickleReader.Parse(bytes, "m.pt"), WeightsOnlyAllowlist.Newest, "m.pt"));

        Assert.Contains("app.Node is used as a value", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rewrite_SharedObject_StaysSharedAsOneDict()
    {
        // a = Node(x=1); (a, a): both places read the dict that replaced the object.
        var bytes = new PickleBuilder().Proto(2).Mark().Global("app", "Node").Put(0).EmptyTuple().NewObj().Put(1)
            .EmptyDict().Mark().Str("x").Int(1).SetItems().Build().Get(1).Tuple().Stop().ToArray();

        var (document, changes) = WeightsOnlyRewriter.Rewrite(PickleReader.Parse(bytes, "m.pt"), WeightsOnlyAllowlist.Newest, "m.pt");

        var root = Assert.IsType<PyTuple>(document.Root);
        var first = Assert.IsType<PyDict>(root.Items[0]);
        Assert.Same(first, root.Items[1]);
        Assert.Equal(1, (int)Assert.IsType<PyInt>(first.Get("x")).Value);
        Assert.Equal(["app.Node → dict (1 object)"], changes);
        Assert.Empty(WeightsOnlyAllowlist.Newest.Blockers(document));
    }

    [Fact]
    public void Rewrite_CallOfAFunctionTorchRefuses_IsRefusedNamingIt()
    {
        // {"when": datetime.timedelta(3)}: a call, not an object with state, which weights_only refuses.
        var bytes = new PickleBuilder().Proto(2).EmptyDict().Mark().Str("when").Global("datetime", "timedelta").Mark().Int(3).Tuple().Reduce().SetItems().Stop().ToArray();

        var error = Assert.Throws<ArtifactFormatException>(() => WeightsOnlyRewriter.Rewrite(PickleReader.Parse(bytes, "m.pt"), WeightsOnlyAllowlist.Newest, "m.pt"));

        Assert.Contains("still not loadable by torch 2.6's weights_only loader", error.Message, StringComparison.Ordinal);
        Assert.Contains("datetime.timedelta", error.Message, StringComparison.Ordinal);
    }

    private static Task<ArtifactDescription> DescribeAsync(string path) => LocalInspection.DescribeAsync(path);
}
