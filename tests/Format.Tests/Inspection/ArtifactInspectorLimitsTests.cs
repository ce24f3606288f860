using System.Globalization;
using System.Numerics;
using System.Text.Json.Nodes;
using TorchFerry.Format.Archive;
using TorchFerry.Format.Conversion;
using TorchFerry.Format.Inspection;
using TorchFerry.Format.Tests.Fuzz;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Inspection;

/// <summary>
/// How the inspector writes what it finds (hyperparameters, keys, paths) and where it stops: each
/// bound at its edge, on files torch.save wrote, and on hand-made pickles for what torch cannot write.
/// </summary>
[Collection(TorchCollection.Name)]
public sealed class ArtifactInspectorLimitsTests(TorchFixtures fixtures)
{
    private const int MaxReferences = 300_000;

    [Theory]
    [InlineData("hyper_values")] // protocol 2: bytes and sets written as calls (_codecs.encode, set([...]))
    [InlineData("hyper_values_p3")] // protocol 3: bytes as BINBYTES, builtins not renamed for Python 2
    public async Task Hyperparameters_WriteEachPythonValueAsJson(string fixtureCase)
    {
        var hyper = (await DescribeAsync(fixtureCase)).Hyperparameters!;

        Assert.True(hyper.ContainsKey("none"));
        Assert.Null(hyper["none"]);
        Assert.True(hyper["yes"]!.GetValue<bool>());
        Assert.Equal("<bytes: 3>", hyper["raw"]!.GetValue<string>()); // protocol 2 writes bytes as _codecs.encode(text, 'latin1')
        Assert.Equal("<bytes: 0>", hyper["no_bytes"]!.GetValue<string>());
        Assert.Equal("a", Assert.Single(hyper["labels"]!.AsArray())!.GetValue<string>()); // and a set as set([items])
        Assert.Equal("b", Assert.Single(hyper["frozen"]!.AsArray())!.GetValue<string>());
        Assert.Equal("<torch.float16>", hyper["dtype"]!.GetValue<string>());
        Assert.Equal("<storage float32[3] on cuda:0>", hyper["storage"]!.GetValue<string>());
        Assert.Equal("<tensor built by torch._utils._rebuild_sparse_tensor>", hyper["sparse"]!.GetValue<string>());
        Assert.Equal(long.MaxValue, hyper["max"]!.GetValue<long>());
        Assert.Equal(long.MinValue, hyper["min"]!.GetValue<long>());
        Assert.Equal("9223372036854775808", hyper["big"]!.GetValue<string>());
        Assert.Equal("-9223372036854775809", hyper["below"]!.GetValue<string>());
        Assert.Equal(BigInteger.Pow(2, 14_283).ToString(CultureInfo.InvariantCulture), hyper["wide"]!.GetValue<string>());
        Assert.Equal("<int of 14285 bits>", hyper["wider"]!.GetValue<string>());
        Assert.Equal("Infinity", hyper["inf"]!.GetValue<string>());
        Assert.Equal("NaN", hyper["nan"]!.GetValue<string>());
        Assert.Equal("<tensor int16[2, 3]>", hyper["tensor"]!.GetValue<string>());
        Assert.Equal("<torchferry_fixture_models.Empty>", hyper["obj"]!.GetValue<string>());
        Assert.False(hyper.ContainsKey("module_state_dict"));
    }

    [Fact]
    public async Task Hyperparameters_NestedPast32Levels_StopThere()
    {
        var hyper = (await DescribeAsync("hyper_values")).Hyperparameters!;

        // The value 32 levels down is still written; the one 33 levels down is not.
        Assert.Equal("x", Innermost(hyper["deep32"]!, 32));
        Assert.Equal("<nested too deep>", Innermost(hyper["deep33"]!, 33));
        Assert.Equal("x", InnermostDict(hyper["deepd32"]!, 32));
        Assert.Equal("<nested too deep>", InnermostDict(hyper["deepd33"]!, 33));
    }

    [Fact]
    public async Task Hyperparameters_CodecsCallsThatMakeNoBytes_AreNamedAsCalls()
    {
        // _codecs.encode of text beyond Latin-1 fails in torch.load: no bytes, so not shown as bytes.
        var pickle = new PickleBuilder().Proto(2).EmptyDict().Mark()
            .Str("module_state_dict").EmptyDict()
            .Str("latin").Global("_codecs", "encode").Mark().Str("\u00ff\u00e9").Str("latin1").Tuple().Reduce()
            .Str("euro").Global("_codecs", "encode").Mark().Str("a\u20ac").Str("latin1").Tuple().Reduce()
            .Str("py3 name").Global("builtins", "bytes").EmptyTuple().Reduce()
            .Str("utf8").Global("_codecs", "encode").Mark().Str("abc").Str("utf-8").Tuple().Reduce()
            .SetItems().Stop().ToArray();
        var archive = await TorchArchive.OpenAsync(new MemorySource(HostileArchives.Archive(pickle), "codecs.pt"));

        var hyper = ArtifactInspector.Describe(archive).Hyperparameters!;

        Assert.Equal(("<bytes: 2>", "<_codecs.encode>", "<_codecs.encode>"), (hyper["latin"]!.GetValue<string>(), hyper["euro"]!.GetValue<string>(), hyper["utf8"]!.GetValue<string>()));
        Assert.Equal("<bytes: 0>", hyper["py3 name"]!.GetValue<string>()); // bytes() as Python 3 names it, not renamed for Python 2
    }

    [Fact]
    public async Task Hyperparameters_KeysOfEveryHashableKind_ReadAsPythonPrintsThem()
    {
        var hyper = (await DescribeAsync("hyper_values")).Hyperparameters!;

        Assert.Equal("t", hyper["True"]!.GetValue<string>());
        Assert.Equal("f", hyper["False"]!.GetValue<string>());
        Assert.Equal("n", hyper["None"]!.GetValue<string>());
        Assert.Equal("h", hyper["0.5"]!.GetValue<string>());
        Assert.Equal("tuple", hyper["(1, a, (2))"]!.GetValue<string>());
        Assert.Equal("bytes", hyper["(?)"]!.GetValue<string>());

        // A key nested ten tuples deep is written eight deep, then elided.
        Assert.Equal("nested", hyper[new string('(', 8) + "(...)" + new string(')', 8)]!.GetValue<string>());

        // A 300-character key keeps its first 256.
        Assert.Equal("long", hyper[new string('k', 256)]!.GetValue<string>());
        Assert.DoesNotContain(hyper, kv => kv.Key.StartsWith("kkk", StringComparison.Ordinal) && kv.Key.Length != 256);
    }

    [Fact]
    public async Task Hyperparameters_ListBeyondTenThousandNodes_EndsInOneTruncationMark()
    {
        var hyper = (await DescribeAsync("hyper_budget_list")).Hyperparameters!;

        // 10,000 nodes: the list itself and 9,999 of its items; what follows is cut.
        var values = hyper["values"]!.AsArray();
        Assert.Equal(10_000, values.Count);
        Assert.Equal(Enumerable.Range(0, 9_999).Select(i => (long)i), values.Take(9_999).Select(v => v!.GetValue<long>()));
        Assert.Equal("<truncated>", values[9_999]!.GetValue<string>());
        Assert.Equal("<truncated>", hyper["after"]!.GetValue<string>());
    }

    [Fact]
    public async Task Hyperparameters_DictBeyondTenThousandNodes_EndsInOneTruncationMark()
    {
        var table = (await DescribeAsync("hyper_budget_dict")).Hyperparameters!["table"]!.AsObject();

        Assert.Equal(10_000, table.Count);
        Assert.Equal(9_998, table["k9998"]!.GetValue<long>());
        Assert.False(table.ContainsKey("k9999"));
        Assert.Equal("<truncated>", table["..."]!.GetValue<string>());
    }

    [Fact]
    public async Task Walk_TensorNested512Deep_IsListed()
    {
        var description = await DescribeAsync("nested_lists_512");

        var tensor = Assert.Single(description.Tensors);
        Assert.Equal(string.Join('.', Enumerable.Repeat("0", 512)), tensor.Path);
        Assert.Equal(ArtifactKind.Other, description.Kind);
    }

    [Fact]
    public async Task Walk_TensorNested513Deep_IsRefusedNamingWhere()
    {
        var error = await RefusedAsync("nested_lists_513");

        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.Contains($"object graph nests deeper than 512 levels at '{string.Concat(Enumerable.Repeat("0.", 128))}...'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Walk_ExactlyTheReferenceBound_IsListedInFull()
    {
        var description = await DescribeAsync($"references_{MaxReferences}");

        Assert.Equal(MaxReferences, description.Tensors.Count);
        Assert.Equal(MaxReferences, Assert.Single(description.Storages).Tensors);
        Assert.Equal(MaxReferences * 4L, description.Totals.TensorBytes);
        Assert.Equal(4L, description.Totals.StorageBytes);
    }

    [Theory]
    [InlineData("references_beside_empties")]
    [InlineData("references_beside_empties_p4")]
    public async Task Walk_EmptyContainersAndScalars_AreNoReferences(string fixtureCase)
    {
        // 299,999 references to a tensor beside empty dicts, lists, tuples, sets and bytes and two ints: under the bound.
        var description = await DescribeAsync(fixtureCase);

        Assert.Equal(MaxReferences - 1, description.Tensors.Count);
    }

    [Theory]
    [InlineData("references_300001")]
    [InlineData("dict_references_300001")]
    public async Task Walk_OneReferencePastTheBound_IsRefused(string fixtureCase)
    {
        var error = await RefusedAsync(fixtureCase);

        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.Contains("references to containers and tensors", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Walk_PathPast4096Characters_StopsGrowingAndEndsInAnEllipsis()
    {
        var description = await DescribeAsync("long_keys_20_1");

        // Keys of 250 characters: 17 of them make 4,266 characters, past 4,096; the rest are elided once.
        var keys = Enumerable.Range(0, 20).Select(level => level.ToString("000", CultureInfo.InvariantCulture) + new string('k', 247)).ToList();
        Assert.Equal(string.Join('.', keys.Take(17)) + "...", Assert.Single(description.Tensors).Path);
    }

    [Fact]
    public async Task Walk_PathOfExactly4096Characters_IsElidedFromTheNextLevel()
    {
        var description = await DescribeAsync("path_edge");

        var keys = Enumerable.Range(0, 15).Select(level => level.ToString("000", CultureInfo.InvariantCulture) + new string('k', 252)).Append(new string('k', 256)).ToList();
        var path = Assert.Single(description.Tensors).Path;
        Assert.Equal(4096, string.Join('.', keys).Length);
        Assert.Equal(string.Join('.', keys) + "...", path);
    }

    [Theory]
    [InlineData("nested_boxes_257")] // an object's state, then its attribute
    [InlineData("nested_modules_257")] // a module's _modules, then the child
    [InlineData("nested_pairs_257")] // a NamedTuple's arguments, then the item
    public async Task Walk_ObjectsNestedPast512Levels_AreRefused(string fixtureCase)
    {
        var error = await RefusedAsync(fixtureCase);

        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.Contains("object graph nests deeper than 512 levels at '", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Walk_PathsOfExactly64MiBInAll_AreRead_OneCharacterMore_IsRefused()
    {
        // Built by the oracle to name exactly 67,108,864 characters of paths, then one more.
        var description = await DescribeAsync("path_characters_0");
        var error = await RefusedAsync("path_characters_1");

        // The tensors' paths and the 15 containers' over them (256, 513, ... 3,854 characters) make up the bound.
        const long containerPaths = 257 * (15 * 16 / 2) - 15;
        Assert.Equal(64L * 1024 * 1024, description.Tensors.Sum(t => (long)t.Path.Length) + containerPaths);
        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.EndsWith(": the object graph names more than 67,108,864 characters of paths", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Walk_PathsBeyond64MiBInAll_AreRefused()
    {
        // 16,000 references under a path of 4,269 characters: 68 million characters of paths.
        var error = await RefusedAsync("long_keys_17_16000");

        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.Contains("characters of paths", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Walk_SparseTensor_IsNamedAsUnsupportedAndNotConverted()
    {
        var path = fixtures.GpuFile("sparse");

        var description = await LocalInspection.DescribeAsync(path);

        var unsupported = Assert.Single(description.Unsupported);
        Assert.Equal(new UnsupportedTensor("s", "torch._utils._rebuild_sparse_tensor"), unsupported);
        Assert.Equal(["dense"], description.Tensors.Select(t => t.Path));

        var destination = Path.Combine(Path.GetDirectoryName(path)!, "sparse-cpu.pt");
        var error = await Assert.ThrowsAsync<ArtifactFormatException>(() => LocalConversion.ConvertAsync(path, destination, DeviceMap.Create("cpu")));
        Assert.Equal(FormatErrorKind.Unsupported, error.Kind);
        Assert.Contains("'s' is built by torch._utils._rebuild_sparse_tensor, which TorchFerry does not support yet; nothing was converted", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(destination));
    }

    [Theory]
    [InlineData(1L << 62, 4L)] // elements overflow
    [InlineData(1L << 62, 1L)] // elements fit, bytes (four per float) overflow
    public async Task Walk_ShapeWhoseSizeOverflows_IsRefusedAsCrafted(long first, long second)
    {
        var pickle = new PickleBuilder().Proto(2)
            .Global("torch._utils", "_rebuild_tensor_v2").Mark().Storage("FloatStorage", "0", "cuda:0", 1)
            .Int(0).Mark().Int(first).Int(second).Tuple().Mark().Int(second).Int(1).Tuple().False()
            .Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce().Stop().ToArray();
        var source = new MemorySource(HostileArchives.Archive(pickle, ("archive/data/0", new byte[4])), "crafted.pt");
        var archive = await TorchArchive.OpenAsync(source);

        var error = Assert.Throws<ArtifactFormatException>(() => ArtifactInspector.Describe(archive));
        var converting = await Assert.ThrowsAsync<ArtifactFormatException>(() => ArchiveRelocator.RelocateAsync(archive, DeviceMap.Create("cpu"), new StreamArchiveSink(new MemoryStream())));

        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.Equal("crafted.pt: tensor sizes overflow 64 bits (crafted shapes)", error.Message);
        Assert.Equal((error.Kind, error.Message), (converting.Kind, converting.Message));
    }

    private static string InnermostDict(JsonNode node, int levels)
    {
        for (var level = 0; level < levels; level++)
        {
            node = node["k"]!;
        }

        return node.GetValue<string>();
    }

    private static string Innermost(JsonNode node, int levels)
    {
        for (var level = 0; level < levels; level++)
        {
            node = Assert.Single(node.AsArray())!;
        }

        return node.GetValue<string>();
    }

    private Task<ArtifactDescription> DescribeAsync(string fixtureCase) => LocalInspection.DescribeAsync(fixtures.GpuFile(fixtureCase));

    private async Task<ArtifactFormatException> RefusedAsync(string fixtureCase) =>
        await Assert.ThrowsAsync<ArtifactFormatException>(() => DescribeAsync(fixtureCase));
}
