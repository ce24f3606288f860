using TorchFerry.Format.Pickle;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.WeightsOnly;

/// <summary>
/// Weights-only conversion on hand-made pickles: what each shape of user object becomes, and the
/// reason given for each shape that no plain value can hold (torch-made fixtures are in WeightsOnlyConversionTests).
/// </summary>
public sealed class WeightsOnlyRewriterTests
{
    private const byte True = 0x88;

    public static TheoryData<string, byte[], string> Refused => new()
    {
        { "state set twice", Net().EmptyDict().Build().EmptyDict().Build().Stop().ToArray(), "an object of m.Net has its state set twice" },
        { "arguments not a tuple", new PickleBuilder().Proto(2).Global("m", "Net").Op((byte)']').NewObj().Stop().ToArray(), "an object of m.Net is made from a value that is not a tuple" },
        { "a whole module", Net().EmptyDict().Mark().Str("_parameters").EmptyDict().Str("_modules").EmptyDict().SetItems().Build().Stop().ToArray(), "it holds a whole torch.nn.Module (m.Net), which a plain dict would not replace: save its state_dict() instead" },
        { "attribute names not strings", Net().EmptyDict().Mark().Str("a").Int(1).Int(2).Int(3).SetItems().Build().Stop().ToArray(), "an object of m.Net has attributes that are not strings" },
        { "attributes and entries", Net().Mark().Str("k").Int(1).SetItems().EmptyDict().Build().Stop().ToArray(), "an object of m.Net has both attributes and entries or arguments, which one plain value cannot hold" },
        { "attributes and items", Net().Mark().Int(1).Op((byte)'e').EmptyDict().Build().Stop().ToArray(), "an object of m.Net has both attributes and items or arguments, which one plain value cannot hold" },
        { "arguments and items", new PickleBuilder().Proto(2).Global("m", "Net").Mark().Int(1).Tuple().NewObj().Mark().Int(1).Op((byte)'e').Stop().ToArray(), "an object of m.Net is made from arguments and also holds items" },
        { "entries and items", Net().Mark().Str("k").Int(1).SetItems().Mark().Int(1).Op((byte)'e').Stop().ToArray(), "an object of m.Net holds both entries and items, which one plain value cannot hold" },
        { "attributes, entries and items", Net().Mark().Str("k").Int(1).SetItems().Mark().Int(1).Op((byte)'e').EmptyDict().Build().Stop().ToArray(), "an object of m.Net has both attributes and entries or arguments, which one plain value cannot hold" },
        { "arguments and entries", new PickleBuilder().Proto(2).Global("m", "Net").Mark().Int(1).Tuple().NewObj().Mark().Str("k").Int(1).SetItems().Stop().ToArray(), "an object of m.Net is made from arguments and also holds items" },
        { "two calls torch refuses", new PickleBuilder().Proto(2).Mark().Global("collections", "deque").EmptyTuple().Reduce().Global("collections", "defaultdict").EmptyTuple().Reduce().Tuple().Stop().ToArray(), "still not loadable by torch 2.6's weights_only loader after turning objects into plain values: collections.defaultdict, collections.deque" },
        { "state not a dict", Net().Mark().Int(1).Tuple().Build().Stop().ToArray(), "an object of m.Net keeps its state in a form other than a dict (__slots__ or __getstate__)" },
        { "class by STACK_GLOBAL", [0x80, 4, 0x8c, 1, (byte)'m', 0x8c, 3, .. "Net"u8, 0x93, (byte)')', 0x81, (byte)'.'], "m.Net is named by opcode 0x93, which weights-only conversion does not rewrite" },
        { "empty arguments by MARK TUPLE", new PickleBuilder().Proto(2).Global("m", "Net").Mark().Tuple().NewObj().EmptyDict().Build().Stop().ToArray(), "an object of m.Net is made from arguments pushed in a way weights-only conversion does not rewrite" },
        { "empty arguments memoized", new PickleBuilder().Proto(2).Global("m", "Net").EmptyTuple().Put(0).NewObj().EmptyDict().Build().Stop().ToArray(), "an object of m.Net is made from arguments pushed in a way weights-only conversion does not rewrite" },
        { "a call torch refuses", new PickleBuilder().Proto(2).Global("collections", "deque").EmptyTuple().Reduce().Stop().ToArray(), "still not loadable by torch 2.6's weights_only loader after turning objects into plain values: collections.deque" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void Rewrite_ShapeNoPlainValueHolds_IsRefusedWithItsReason(string shape, byte[] pickle, string reason)
    {
        var error = Assert.Throws<ArtifactFormatException>(() => WeightsOnlyRewriter.Rewrite(PickleReader.Parse(pickle, "ck.pt"), WeightsOnlyAllowlist.Torch2_6, "ck.pt"));

        Assert.Equal(FormatErrorKind.Unsupported, error.Kind);
        Assert.True(error.Message == $"ck.pt: cannot be made loadable with torch.load(weights_only=True): {reason}; nothing was converted", $"{shape}: {error.Message}");
    }

    [Fact]
    public void Rewrite_ObjectsWithOnlyParametersOrOnlyModules_AreDicts_AndEachClassIsCounted()
    {
        // One key of a module's is not a module; the list's two objects of one class are counted together.
        var bytes = new PickleBuilder().Proto(2).Op((byte)']').Mark()
            .Global("m", "Net").EmptyTuple().NewObj().EmptyDict().Mark().Str("_parameters").EmptyDict().SetItems().Build()
            .Global("m", "Net").EmptyTuple().NewObj().EmptyDict().Mark().Str("_modules").EmptyDict().SetItems().Build()
            .Global("m", "Tags").EmptyTuple().NewObj().Mark().Str("x").Op(True).SetItems()
            .Op((byte)'e').Stop().ToArray();

        var (document, changes) = WeightsOnlyRewriter.Rewrite(PickleReader.Parse(bytes, "ck.pt"), WeightsOnlyAllowlist.Torch2_6, "ck.pt");

        Assert.Equal(["m.Net → dict (2 objects)", "m.Tags → dict (1 object)"], changes);
        var list = Assert.IsType<PyList>(document.Root);
        Assert.All(list.Items, i => Assert.IsType<PyDict>(i));
        Assert.Empty(WeightsOnlyAllowlist.Torch2_6.Blockers(document));
    }

    [Fact]
    public void Rewrite_ObjectOfAClassTheLoaderAllows_IsLeftAsItIs()
    {
        // (Parameter.__new__(Parameter), m.Net()): torch's weights-only loader makes Parameters itself.
        var bytes = new PickleBuilder().Proto(2).Mark()
            .Global("torch.nn.parameter", "Parameter").EmptyTuple().NewObj()
            .Global("m", "Net").EmptyTuple().NewObj()
            .Tuple().Stop().ToArray();

        var (document, changes) = WeightsOnlyRewriter.Rewrite(PickleReader.Parse(bytes, "ck.pt"), WeightsOnlyAllowlist.Torch2_6, "ck.pt");

        Assert.Equal(["m.Net → dict (1 object)"], changes);
        var root = Assert.IsType<PyTuple>(document.Root);
        Assert.Equal("torch.nn.parameter.Parameter", Assert.IsType<PyInstance>(root.Items[0]).ClassName);
        Assert.IsType<PyDict>(root.Items[1]);
        Assert.Empty(WeightsOnlyAllowlist.Torch2_6.Blockers(document));
    }

    [Fact]
    public void Rewrite_NothingToConvert_LeavesTheBytesAsTheyAre()
    {
        var bytes = new PickleBuilder().Proto(2).Global("collections", "OrderedDict").EmptyTuple().Reduce().Stop().ToArray();

        var (document, changes) = WeightsOnlyRewriter.Rewrite(PickleReader.Parse(bytes, "ck.pt"), WeightsOnlyAllowlist.Torch2_6, "ck.pt");

        Assert.Empty(changes);
        Assert.Equal(bytes, document.Bytes.ToArray());
    }

    private static PickleBuilder Net() => new PickleBuilder().Proto(2).Global("m", "Net").EmptyTuple().NewObj();
}
