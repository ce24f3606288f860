using TorchFerry.Format.Pickle;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Pickle;

/// <summary>torch's tensor rebuild calls, read without calling them: what they make, and the one line each bad argument gets.</summary>
public sealed class TorchRebuildTests
{
    private const byte True = 0x88;

    [Fact]
    public void RebuildTensorV2_CarriesRequiresGrad()
    {
        var grad = Parse(Tensor(b => b.Op(True)));
        var plain = Parse(Tensor(b => b.False()));

        Assert.True(Assert.IsType<PyTensor>(grad).RequiresGrad);
        Assert.False(Assert.IsType<PyTensor>(plain).RequiresGrad);
    }

    [Theory]
    [InlineData("_rebuild_parameter", 3)]
    [InlineData("_rebuild_parameter_with_state", 4)]
    public void RebuildParameter_IsAParameterWithItsRequiresGrad(string function, int arguments)
    {
        var builder = new PickleBuilder().Proto(2).Global("torch._utils", function).Mark();
        builder = Tensor(b => b.False(), builder).Op(True).Global("collections", "OrderedDict").EmptyTuple().Reduce();
        if (arguments == 4)
        {
            builder = builder.EmptyDict();
        }

        var parameter = Assert.IsType<PyTensor>(Parse(builder.Tuple().Reduce().Stop().ToArray()));

        Assert.True(parameter.IsParameter);
        Assert.True(parameter.RequiresGrad);
    }

    [Fact]
    public void RebuildFromType_OfATensorSubclass_IsTheTensorMarkedWithItsClass()
    {
        PickleBuilder FromType(Func<PickleBuilder, PickleBuilder> type) => Tensor(b => b.False(), type(new PickleBuilder().Proto(2).Global("torch._tensor", "_rebuild_from_type_v2").Mark()
            .Global("torch._utils", "_rebuild_tensor_v2")).Mark(), callOnly: true).Tuple().EmptyDict().Tuple().Reduce().Stop();

        var subclass = Assert.IsType<PyTensor>(Parse(FromType(b => b.Global("my_project.tensors", "Scaled")).ToArray()));
        var plain = Assert.IsType<PyTensor>(Parse(FromType(b => b.Global("torch", "Tensor")).ToArray()));
        var unnamed = Assert.IsType<PyTensor>(Parse(FromType(b => b.Int(7)).ToArray())); // a type that is no class name: shown as "?"
        var withoutArguments = Parse(new PickleBuilder().Proto(2).Global("torch._tensor", "_rebuild_from_type_v2").Mark()
            .Global("torch._utils", "_rebuild_tensor_v2").Global("torch", "Tensor").Tuple().Reduce().Stop().ToArray());

        Assert.Equal("my_project.tensors.Scaled", subclass.Subclass);
        Assert.Null(plain.Subclass);
        Assert.Equal("?", unnamed.Subclass);
        Assert.Equal(("float32", 4L), (plain.Dtype.Name, plain.Shape[0]));
        Assert.IsType<PyInstance>(withoutArguments);
    }

    [Fact]
    public void SizeOfExactlyTheLargestLong_IsRead_AndOneMoreIsRefused()
    {
        var largest = Assert.IsType<PyTensor>(Parse(Tensor(b => b.False(), size: long.MaxValue)));

        Assert.Equal(long.MaxValue, largest.Shape[0]);
        AssertBad(Tensor(b => b.False(), size: null), "_rebuild_tensor_v2", "size is not a tuple of integers");
    }

    [Fact]
    public void BadArguments_AreRefusedAsCorrupt_NamingTheFunctionAndTheProblem()
    {
        var v2 = "_rebuild_tensor_v2";
        AssertBad(Call(v2, b => b.Str("not a storage").Int(0).Mark().Int(4).Tuple().Mark().Int(1).Tuple().False().EmptyDict()), v2, "its first argument is not a storage");
        AssertBad(Call(v2, b => b.Storage("FloatStorage", "0", "cuda:0", 4).Str("0").Mark().Int(4).Tuple().Mark().Int(1).Tuple().False().EmptyDict()), v2, "storage offset is not an integer");
        AssertBad(Call(v2, b => b.Storage("FloatStorage", "0", "cuda:0", 4).Int(0).Mark().Str("4").Tuple().Mark().Int(1).Tuple().False().EmptyDict()), v2, "size is not a tuple of integers");
        AssertBad(Call(v2, b => b.Storage("FloatStorage", "0", "cuda:0", 4).Int(0).Mark().Int(4).Tuple().Int(1).False().EmptyDict()), v2, "stride is not a tuple of integers");
        AssertBad(Call(v2, b => b.Storage("FloatStorage", "0", "cuda:0", 4).Int(0).Mark().Int(2).Int(2).Tuple().Mark().Int(1).Tuple().False().EmptyDict()), v2, "size has 2 dimensions but stride 1");
        var v3 = "_rebuild_tensor_v3";
        AssertBad(Call(v3, b => b.Storage("UntypedStorage", "0", "cuda:0", 8).Int(0).Mark().Int(4).Tuple().Mark().Int(1).Tuple().False().EmptyDict().Global("torch", "float128")), v3, "unknown dtype torch.float128");
        AssertBad(Call(v3, b => b.Storage("UntypedStorage", "0", "cuda:0", 8).Int(0).Mark().Int(4).Tuple().Mark().Int(1).Tuple().False().EmptyDict().Str("float32")), v3, "dtype argument is not a torch dtype");
        AssertBad(Call("_rebuild_parameter", b => b.Str("data").False().EmptyDict()), "_rebuild_parameter", "its data is not a tensor");
    }

    private static PyValue Parse(byte[] pickle) => PickleReader.Parse(pickle, "t.pt").Root;

    private static byte[] Call(string function, Func<PickleBuilder, PickleBuilder> arguments) =>
        arguments(new PickleBuilder().Proto(2).Global("torch._utils", function).Mark()).Tuple().Reduce().Stop().ToArray();

    private static void AssertBad(byte[] pickle, string function, string problem)
    {
        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(pickle, "t.pt"));
        Assert.Equal((FormatErrorKind.Corrupt, $"t.pt: data.pkl calls torch._utils.{function} with unexpected arguments: {problem}"), (error.Kind, error.Message));
    }

    // A 1-d float tensor of 4 (or the given size) over a cuda:0 storage via _rebuild_tensor_v2, requires_grad written by grad.
    private static byte[] Tensor(Func<PickleBuilder, PickleBuilder> grad, long? size = 4) =>
        Tensor(grad, new PickleBuilder().Proto(2), size: size).Stop().ToArray();

    private static PickleBuilder Tensor(Func<PickleBuilder, PickleBuilder> grad, PickleBuilder builder, bool callOnly = false, long? size = 4)
    {
        var arguments = builder;
        if (!callOnly)
        {
            arguments = arguments.Global("torch._utils", "_rebuild_tensor_v2").Mark();
        }

        arguments = arguments.Storage("FloatStorage", "0", "cuda:0", 4).Int(0).Mark();
        arguments = size is { } n
            ? arguments.Int(n)
            : arguments.Raw([0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0x80, 0]); // LONG1 2**63, one past the largest long
        arguments = grad(arguments.Tuple().Mark().Int(1).Tuple()).Global("collections", "OrderedDict").EmptyTuple().Reduce();
        return callOnly ? arguments : arguments.Tuple().Reduce();
    }
}
