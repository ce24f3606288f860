using TorchFerry.Format.Pickle;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Pickle;

public sealed class PickleReaderTests
{
    [Fact]
    public void Parse_UserClass_StaysASymbolicGlobalWithItsState()
    {
        var bytes = new PickleBuilder().Proto(2).Global("__main__", "Net").EmptyTuple().NewObj()
            .EmptyDict().Mark().Str("weight").Tensor1d("HalfStorage", "0", "cuda:1", 3).SetItems().Build().Stop().ToArray();

        var document = PickleReader.Parse(bytes, "net.pt");

        var instance = Assert.IsType<PyInstance>(document.Root);
        Assert.Equal("__main__.Net", instance.ClassName);
        var tensor = Assert.IsType<PyTensor>(Assert.IsType<PyDict>(instance.State).Get("weight"));
        Assert.Equal(("float16", 3L, "cuda:1"), (tensor.Dtype.Name, tensor.Shape[0], tensor.Storage.Location));
    }

    [Theory]
    [InlineData("os", "system")]
    [InlineData("posix", "system")]
    [InlineData("subprocess", "Popen")]
    [InlineData("builtins", "eval")]
    [InlineData("builtins", "exec")]
    [InlineData("builtins", "__import__")]
    [InlineData("os.path", "join")]
    [InlineData("torch", "load")]
    [InlineData("torch", "os.system")]
    [InlineData("builtins", "getattr.__self__.eval")]
    [InlineData("torch", "hub.load")]
    [InlineData("torch.storage", "_load_from_bytes")]
    [InlineData("timeit", "timeit")]
    [InlineData("cProfile", "run")]
    [InlineData("pydoc", "pipepager")]
    [InlineData("numpy", "load")]
    [InlineData("torch.serialization", "load")]
    [InlineData("torch.ops", "load_library")]
    [InlineData("__main__", "Net")]
    [InlineData("collections", "defaultdict")]
    public void Parse_CallOffTheAllowlist_IsRefusedAsUnsafe(string module, string name)
    {
        var bytes = new PickleBuilder().Proto(2).Global(module, name).Mark().Str("echo hi").Tuple().Reduce().Stop().ToArray();

        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(bytes, "evil.pt"));

        Assert.Equal(FormatErrorKind.UnsafeGlobal, error.Kind);
        Assert.StartsWith($"evil.pt: data.pkl ", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{module}.{name}", error.Message, StringComparison.Ordinal);
        Assert.EndsWith("loading it would run code, so TorchFerry refuses to read or carry it", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("torch", "os.system")]
    [InlineData("builtins", "getattr.__self__.eval")]
    [InlineData("torch", "hub.load")]
    [InlineData("os", "system")]
    [InlineData("builtins", "eval")]
    public void Parse_NameThatResolvesToCode_IsRefusedEvenUncalled(string module, string name)
    {
        var bytes = new PickleBuilder().Proto(4).Global(module, name).Stop().ToArray();

        Assert.Equal(FormatErrorKind.UnsafeGlobal, Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(bytes, "evil.pt")).Kind);
    }

    [Fact]
    public void Parse_UserClassInstantiated_IsCarriedButNotCalled()
    {
        var instantiated = new PickleBuilder().Proto(2).Global("my_project.models", "Net").EmptyTuple().NewObj().Stop().ToArray();
        var called = new PickleBuilder().Proto(2).Global("my_project.models", "Net").EmptyTuple().Reduce().Stop().ToArray();

        Assert.Equal("my_project.models.Net", Assert.IsType<PyInstance>(PickleReader.Parse(instantiated, "ok.pt").Root).ClassName);
        Assert.Equal(FormatErrorKind.UnsafeGlobal, Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(called, "evil.pt")).Kind);
    }

    [Fact]
    public void Parse_LazyCallInsideAnAllowedConstructor_IsRefused()
    {
        // set(itertools.starmap(f, [args])) calls f as set() iterates: NEWOBJ makes the lazy call.
        var starmap = new PickleBuilder().Proto(2).Global("builtins", "set")
            .Global("itertools", "starmap").Mark().Global("my_project.tools", "run").Mark().Mark().Str("id").Tuple().Tuple().Tuple().NewObj()
            .Op(0x85).Reduce().Stop().ToArray();
        var userObject = new PickleBuilder().Proto(2).Global("builtins", "set")
            .Global("my_project.models", "Lazy").EmptyTuple().NewObj().Op(0x85).Reduce().Stop().ToArray();

        Assert.Equal(FormatErrorKind.UnsafeGlobal, Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(starmap, "evil.pt")).Kind);
        Assert.Contains("passes an object made by", Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(userObject, "evil.pt")).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("numpy", "memmap")]
    [InlineData("itertools", "starmap")]
    [InlineData("builtins", "map")]
    [InlineData("functools", "partial")]
    public void Parse_InstantiatingALibraryClass_IsRefused(string module, string name)
    {
        var bytes = new PickleBuilder().Proto(2).Global(module, name).EmptyTuple().NewObj().Stop().ToArray();

        Assert.Equal(FormatErrorKind.UnsafeGlobal, Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(bytes, "evil.pt")).Kind);
    }

    [Theory]
    [InlineData("_rebuild_from_type")]
    [InlineData("_rebuild_from_type_v2")]
    public void Parse_RebuildFromTypeWithAFunctionOffTheList_IsRefused(string rebuild)
    {
        var bytes = new PickleBuilder().Proto(2).Global("torch._tensor", rebuild)
            .Mark().Global("builtins", "set").Global("torch", "Tensor").Mark().Str("x").Tuple().EmptyDict().Tuple().Reduce().Stop().ToArray();
        var nested = new PickleBuilder().Proto(2).Global("torch._tensor", rebuild)
            .Mark().Global("torch._tensor", "_rebuild_from_type_v2").Global("torch", "Tensor").EmptyTuple().EmptyDict().Tuple().Reduce().Stop().ToArray();

        Assert.Equal(FormatErrorKind.UnsafeGlobal, Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(bytes, "evil.pt")).Kind);
        Assert.Equal(FormatErrorKind.UnsafeGlobal, Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(nested, "evil.pt")).Kind);
    }

    [Fact]
    public void Parse_BuildOnAModuleOrClass_IsRefused()
    {
        // BUILD on torch.Size's module would rebind names that later calls use.
        var bytes = new PickleBuilder().Proto(2).Global("torch.nn.modules.module", "torch").EmptyDict().Build().Stop().ToArray();

        Assert.Equal(FormatErrorKind.UnsafeGlobal, Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(bytes, "evil.pt")).Kind);
    }

    [Fact]
    public void Parse_WhatTorchSaveWritesForPlainValues_IsAccepted()
    {
        // Empty bytes at protocol 2 (__builtin__.bytes()), defaultdict(list), a deque: data, not code.
        var bytes = new PickleBuilder().Proto(2).Mark()
            .Global("__builtin__", "bytes").EmptyTuple().Reduce()
            .Global("collections", "defaultdict").Global("builtins", "list").Op(0x85).Reduce()
            .Global("collections", "deque").EmptyTuple().Reduce()
            .Tuple().Stop().ToArray();
        var factory = new PickleBuilder().Proto(2).Global("collections", "defaultdict").Global("my_project.tools", "run").Op(0x85).Reduce().Stop().ToArray();

        Assert.IsType<PyTuple>(PickleReader.Parse(bytes, "ok.pt").Root);
        Assert.Equal(FormatErrorKind.UnsafeGlobal, Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(factory, "evil.pt")).Kind);
    }

    [Fact]
    public void Parse_HugeDottedName_IsRefusedAtOnce()
    {
        var bytes = new PickleBuilder().Proto(2).Global("a", string.Join('.', Enumerable.Repeat("b", 200_000))).Stop().ToArray();

        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(FormatErrorKind.UnsafeGlobal, Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(bytes, "evil.pt")).Kind);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
    }

    [Fact]
    public void Parse_MillionsOfMemoWrites_AreBounded()
    {
        var bytes = new PickleBuilder().Proto(4).Op((byte)'N').Raw(Enumerable.Repeat((byte)0x94, 2_000_000).ToArray()).Stop().ToArray();

        Assert.Equal(FormatErrorKind.LimitExceeded, Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(bytes, "big.pt")).Kind);
    }

    [Fact]
    public void Parse_ReconstructorWithACodeRunningBase_IsRefused()
    {
        var safe = new PickleBuilder().Proto(1).Global("copyreg", "_reconstructor").Mark().Global("my_project.models", "Net").Global("builtins", "object").Op((byte)'N').Tuple().Reduce().Stop().ToArray();
        var unsafeBase = new PickleBuilder().Proto(1).Global("copyreg", "_reconstructor").Mark().Global("my_project.models", "Net").Global("my_project.models", "Launcher").Op((byte)'N').Tuple().Reduce().Stop().ToArray();

        Assert.IsType<PyInstance>(PickleReader.Parse(safe, "ok.pt").Root);
        Assert.Equal(FormatErrorKind.UnsafeGlobal, Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(unsafeBase, "evil.pt")).Kind);
    }

    [Fact]
    public void Parse_HarmlessBuiltins_AreData()
    {
        var bytes = new PickleBuilder().Proto(2).Global("builtins", "set").Mark().Mark().Int(1).Tuple().Tuple().Reduce().Stop().ToArray();

        var instance = Assert.IsType<PyInstance>(PickleReader.Parse(bytes, "ok.pt").Root);

        Assert.Equal("builtins.set", instance.ClassName);
    }

    [Fact]
    public void Parse_UnsupportedRebuildFunction_IsKeptAndNamed()
    {
        var bytes = new PickleBuilder().Proto(2).Global("torch._utils", "_rebuild_qtensor").Mark().Storage("QInt8Storage", "0", "cuda:0", 4).Tuple().Reduce().Stop().ToArray();

        var unsupported = Assert.IsType<PyUnsupportedTensor>(PickleReader.Parse(bytes, "q.pt").Root);

        Assert.Equal("torch._utils._rebuild_qtensor", unsupported.Function);
    }

    [Fact]
    public void Parse_UntypedStorageWithV3_TakesTheDtypeFromTheCall()
    {
        var bytes = new PickleBuilder().Proto(2).Global("torch._utils", "_rebuild_tensor_v3").Mark()
            .Storage("UntypedStorage", "0", "cuda:0", 8).Int(0).Mark().Int(4).Tuple().Mark().Int(1).Tuple().False()
            .Global("collections", "OrderedDict").EmptyTuple().Reduce().Global("torch", "uint16").Tuple().Reduce().Stop().ToArray();

        var tensor = Assert.IsType<PyTensor>(PickleReader.Parse(bytes, "u.pt").Root);

        Assert.Equal(("uint16", 2, 8L), (tensor.Dtype.Name, tensor.Dtype.ElementSize, tensor.Storage.ByteLength));
    }

    [Theory]
    [InlineData(new byte[] { 0x80, 0x02, 0x4b }, "ends inside an opcode")]
    [InlineData(new byte[] { 0x80, 0x02, 0x4b, 0x01 }, "ends without STOP")]
    [InlineData(new byte[] { 0x80, 0x02, 0xff, 0x2e }, "unknown pickle opcode 0xff")]
    [InlineData(new byte[] { 0x80, 0x02, 0x68, 0x05, 0x2e }, "memo slot 5 is read before it is written")]
    [InlineData(new byte[] { 0x80, 0x02, 0x52, 0x2e }, "stack underflow")]
    [InlineData(new byte[] { 0x80, 0x09, 0x2e }, "protocol 9")]
    public void Parse_CorruptPickle_SaysWhereAndWhat(byte[] bytes, string expected)
    {
        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(bytes, "bad.pt"));

        Assert.StartsWith("bad.pt: data.pkl is corrupt at byte ", error.Message, StringComparison.Ordinal);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_PersistentIdThatIsNotAStorage_IsRefused()
    {
        var bytes = new PickleBuilder().Proto(2).Mark().Str("module").Str("x").Tuple().PersistentId().Stop().ToArray();

        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(bytes, "p.pt"));

        Assert.Contains("not a torch storage reference", error.Message, StringComparison.Ordinal);
    }
}
