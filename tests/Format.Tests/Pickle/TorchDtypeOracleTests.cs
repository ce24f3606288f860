using System.Text.Json.Nodes;
using TorchFerry.Format.Pickle;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Pickle;

/// <summary>Debian's PyTorch as the oracle for dtypes: every name and storage class it defines, read as torch reads it.</summary>
public sealed class TorchDtypeOracleTests
{
    private static readonly Lazy<JsonNode> Torch = new(() => PythonScript.RunJson("torch_dtypes.py"));

    [Fact]
    public void FromName_EveryDtypeNameTorchDefines_IsItsCanonicalDtypeAndElementSize()
    {
        var dtypes = Torch.Value["dtypes"]!.AsObject();

        Assert.True(dtypes.Count >= 27, $"torch {Torch.Value["version"]} listed only {dtypes.Count} dtypes");
        foreach (var (name, expected) in dtypes)
        {
            var dtype = TorchDtype.FromName(name);
            Assert.True(dtype is not null, $"torch.{name} is not known");
            Assert.Equal((expected![0]!.GetValue<string>(), expected[1]!.GetValue<int>()), (dtype.Name, dtype.ElementSize));
        }

        Assert.Null(TorchDtype.FromName("Tensor"));
        Assert.Null(TorchDtype.FromName("FloatStorage"));
    }

    [Fact]
    public void FromStorageClass_EveryLegacyStorageClassOfTorchAndTorchCuda_IsItsDtype()
    {
        var storages = Torch.Value["storages"]!.AsObject();
        var cuda = Torch.Value["cuda"]!.AsArray().Select(c => c!.GetValue<string>()).ToList();

        Assert.True(storages.Count >= 17 && cuda.Count >= 12, $"torch {Torch.Value["version"]} listed {storages.Count} storage classes, {cuda.Count} in torch.cuda");
        foreach (var (name, expected) in storages)
        {
            var dtype = TorchDtype.FromStorageClass("torch", name);
            Assert.True(dtype is not null, $"torch.{name} is not known");
            Assert.Equal((expected![0]!.GetValue<string>(), expected[1]!.GetValue<int>()), (dtype.Name, dtype.ElementSize));
        }

        foreach (var name in cuda)
        {
            Assert.Equal(TorchDtype.FromStorageClass("torch", name), TorchDtype.FromStorageClass("torch.cuda", name));
        }

        // torch.save writes UntypedStorage for every storage since 2.0: numel counts bytes.
        Assert.Equal(("uint8", 1), (TorchDtype.FromStorageClass("torch", "UntypedStorage")!.Name, TorchDtype.FromStorageClass("torch", "UntypedStorage")!.ElementSize));
        Assert.Null(TorchDtype.FromStorageClass("numpy", "FloatStorage"));
        Assert.Null(TorchDtype.FromStorageClass("torch.cuda.amp", "FloatStorage"));
    }
}
