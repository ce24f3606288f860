using TorchFerry.Format.Conversion;
using TorchFerry.Format.Inspection;
using TorchFerry.Format.Pickle;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.WeightsOnly;

/// <summary>
/// What inspect says about <c>torch.load(weights_only=True)</c>, judged by Debian's torch 1.13 itself:
/// our 1.13 allowlist is its allowlist, and our verdict on every fixture is what its loader does.
/// </summary>
[Collection(TorchCollection.Name)]
public sealed class WeightsOnlyVerdictTests(TorchFixtures fixtures)
{
    [Fact]
    public void Allowlist_Torch1_13_IsExactlyWhatDebiansTorchAllows()
    {
        Assert.StartsWith("1.13", fixtures.Torch.Version, StringComparison.Ordinal);

        var torch = fixtures.Torch.WeightsOnlyGlobals();

        Assert.Equal(torch, WeightsOnlyAllowlist.Torch1_13.Globals.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Allowlist_Torch2_6_TakesEverything1_13Takes()
    {
        // 2.6 rebuilds sparse CSR tensors through _rebuild_sparse_tensor; the rest of 1.13's list stays.
        Assert.Subset(WeightsOnlyAllowlist.Torch2_6.Globals.ToHashSet(), WeightsOnlyAllowlist.Torch1_13.Globals.Where(g => g != "torch._utils._rebuild_sparse_csr_tensor").ToHashSet());
        Assert.Subset(WeightsOnlyAllowlist.Torch2_6.Opcodes.ToHashSet(), WeightsOnlyAllowlist.Torch1_13.Opcodes.ToHashSet());
    }

    [Theory]
    [InlineData("tensor")]
    [InlineData("module")]
    [InlineData("checkpoint_dict")]
    [InlineData("checkpoint_held")]
    [InlineData("tied_weights")]
    [InlineData("views")]
    [InlineData("scalars_and_empty")]
    [InlineData("dtypes")]
    [InlineData("protocol3")]
    [InlineData("protocol4")]
    [InlineData("legacy_free_state_dict")]
    public async Task Verdict_Torch1_13_IsWhatItsWeightsOnlyLoaderDoes(string fixtureCase)
    {
        var source = fixtureCase == "legacy_free_state_dict" ? StateDictFile() : fixtures.GpuFile(fixtureCase);
        var converted = fixtures.Directory.File($"verdict-{fixtureCase}-cpu.pt");
        await LocalConversion.ConvertAsync(source, converted, DeviceMap.Create("cpu"), overwrite: true, options: new RelocationOptions { Durable = false });

        var verdict = (await DescribeAsync(converted)).WeightsOnly.Single(v => v.Torch == "1.13");

        var error = fixtures.Torch.LoadError(converted, weightsOnly: true);
        Assert.True(verdict.Loads == (error is null), $"verdict {verdict.Loads} ({string.Join(", ", verdict.BlockedBy)}); torch: {error ?? "loads"}");
        Assert.Equal(verdict.Loads, verdict.BlockedBy.Count == 0);
    }

    [Fact]
    public async Task Verdict_HeldDataclass_NamesTheClassesTorchRefuses()
    {
        var description = await DescribeAsync(fixtures.GpuFile("checkpoint_held"));

        string[] classes = ["torchferry_fixture_models.AttrDict", "torchferry_fixture_models.Empty", "torchferry_fixture_models.Schedule", "torchferry_fixture_models.Settings", "torchferry_fixture_models.TagList"];
        var newest = description.WeightsOnly.Single(v => v.Torch == "2.6");
        Assert.False(newest.Loads);
        Assert.Equal(classes, newest.BlockedBy);
        var converted = fixtures.Directory.File("verdict-held-cpu.pt");
        await LocalConversion.ConvertAsync(fixtures.GpuFile("checkpoint_held"), converted, DeviceMap.Create("cpu"), overwrite: true, options: new RelocationOptions { Durable = false });
        var error = fixtures.Torch.LoadError(converted, weightsOnly: true);
        Assert.Contains("Unsupported class torchferry_fixture_models.", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verdict_CheckpointWithFloats_Torch1_13RefusesTheFloatOpcodeAnd2_6Loads()
    {
        var converted = fixtures.Directory.File("verdict-floats-cpu.pt");
        await LocalConversion.ConvertAsync(fixtures.GpuFile("checkpoint_dict"), converted, DeviceMap.Create("cpu"), overwrite: true);

        var description = await DescribeAsync(converted);

        Assert.Equal(new WeightsOnlyVerdict("1.13", false, ["opcode BINFLOAT (a float)"]), description.WeightsOnly[0], VerdictComparer.Instance);
        Assert.Equal(new WeightsOnlyVerdict("2.6", true, []), description.WeightsOnly[1], VerdictComparer.Instance);
        Assert.Contains("Unsupported operand 71", fixtures.Torch.LoadError(converted, weightsOnly: true), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verdict_Protocol4_NamesTheOpcodesOfTheNewerProtocol()
    {
        var newest = (await DescribeAsync(fixtures.GpuFile("protocol4"))).WeightsOnly[^1];

        Assert.False(newest.Loads);
        Assert.Contains("opcode FRAME (pickle protocol 4 or later)", newest.BlockedBy);
        Assert.Contains("opcode MEMOIZE (pickle protocol 4 or later)", newest.BlockedBy);
    }

    // A float-free state dict: the one kind of file torch 1.13's weights_only loader takes.
    private string StateDictFile()
    {
        var path = fixtures.Directory.File("weights-only-state-dict.pt");
        if (!File.Exists(path))
        {
            var pickle = new PickleBuilder().Proto(2).Global("collections", "OrderedDict").EmptyTuple().Reduce()
                .Mark().Str("w").Tensor1d("FloatStorage", "0", "cuda:0", 4).Str("b").Tensor1d("FloatStorage", "1", "cuda:0", 2).SetItems().Stop().ToArray();
            TorchLayoutWriter.Write(path, [("m/data.pkl", pickle), ("m/data/0", new byte[16]), ("m/data/1", new byte[8]), ("m/version", "3\n"u8.ToArray())]);
        }

        return path;
    }

    private static Task<ArtifactDescription> DescribeAsync(string path) => LocalInspection.DescribeAsync(path);

    private sealed class VerdictComparer : IEqualityComparer<WeightsOnlyVerdict>
    {
        public static readonly VerdictComparer Instance = new();

        public bool Equals(WeightsOnlyVerdict? x, WeightsOnlyVerdict? y) =>
            x is not null && y is not null && x.Torch == y.Torch && x.Loads == y.Loads && x.BlockedBy.SequenceEqual(y.BlockedBy);

        public int GetHashCode(WeightsOnlyVerdict obj) => obj.Torch.GetHashCode(StringComparison.Ordinal);
    }
}
