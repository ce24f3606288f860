using System.Text;
using TorchFerry.Format.Pickle;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Pickle;

/// <summary>The reader's rarer opcodes, its bounds at their exact edges, and the one line each malformed pickle gets.</summary>
public sealed class PickleReaderEdgeTests
{
    public static TheoryData<byte[], FormatErrorKind, string> Malformed => new()
    {
        { [0x80, 4, 0x95, 10, 0, 0, 0, 0, 0, 0, 0, 0x95, 1, 0, 0, 0, 0, 0, 0, 0, (byte)'N', (byte)'.'], FormatErrorKind.Corrupt, "a frame starts before the previous one ends" },
        { [0x80, 4, 0x95, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, (byte)'N', 0x95, 1, 0, 0, 0, 0, 0, 0, 0, (byte)'.'], FormatErrorKind.Corrupt, "a frame starts before the previous one ends" },
        { [0x80, 2, (byte)'N', (byte)'N', (byte)'.'], FormatErrorKind.Corrupt, "pickle stops with a malformed stack" },
        { [0x80, 2, (byte)'(', (byte)'N', (byte)'.'], FormatErrorKind.Corrupt, "pickle stops with a malformed stack" },
        { [0x80, 4, (byte)'K', 1, (byte)'K', 2, 0x93, (byte)'.'], FormatErrorKind.Corrupt, "STACK_GLOBAL needs two strings" },
        { [0x80, 1, (byte)'(', (byte)'o', (byte)'.'], FormatErrorKind.Corrupt, "OBJ without a class" },
        { [.. "Pabc\n."u8], FormatErrorKind.Corrupt, "text persistent id 'abc' is not a torch storage reference" },
        { [0x80, 2, 0x82, 1, (byte)'.'], FormatErrorKind.Unsupported, "pickle uses the copyreg extension registry (EXT opcodes), which torch.save never writes" },
        { [0x80, 5, 0x97, (byte)'.'], FormatErrorKind.Unsupported, "out-of-band pickle buffers (protocol 5 NEXT_BUFFER) are not used by torch.save and are not supported" },
        { new PickleBuilder().Proto(2).Mark().Str("storage").Tuple().PersistentId().Stop().ToArray(), FormatErrorKind.Corrupt, "a storage persistent id is not of the form ('storage', type, key, location, numel)" },
        { new PickleBuilder().Proto(2).Storage("FloatStorage", "0", "cuda:0", -1).Stop().ToArray(), FormatErrorKind.Corrupt, "storage '0' has an impossible element count -1" },
        { new PickleBuilder().Proto(2).Storage("FloatStorage", "0", "cuda:0", (long.MaxValue / 16) + 1).Stop().ToArray(), FormatErrorKind.Corrupt, $"storage '0' has an impossible element count {(long.MaxValue / 16) + 1}" },
        { [0x80, 2, (byte)')', (byte)')', (byte)'R', (byte)'.'], FormatErrorKind.UnsafeGlobal, "calls a value that is not a plain name (the result of another call, say)" },
        { [0x80, 2, (byte)')', (byte)')', 0x81, (byte)'.'], FormatErrorKind.UnsafeGlobal, "instantiates a value that is not a class name" },
        { new PickleBuilder().Proto(2).Global("collections", "OrderedDict").EmptyTuple().NewObj().Stop().ToArray(), FormatErrorKind.UnsafeGlobal, "instantiates collections.OrderedDict, a class of the standard library or numpy, whose construction may act" },
        { new PickleBuilder().Proto(1).Global("copyreg", "_reconstructor").Mark().Global("m", "Net").Global("builtins", "object").Tuple().Reduce().Stop().ToArray(), FormatErrorKind.UnsafeGlobal, "calls copyreg._reconstructor with a base other than object" },
        { new PickleBuilder().Proto(2).Global("m", new string('a', 513)).Stop().ToArray(), FormatErrorKind.UnsafeGlobal, "names a global of 513 characters" },
        { new PickleBuilder().Proto(2).Global("builtins", "set").Mark().Global("m", "Net").EmptyTuple().NewObj().Op((byte)']').Op((byte)'a').Tuple().Reduce().Stop().ToArray(), FormatErrorKind.UnsafeGlobal, "passes an object made by m.Net to builtins.set" },
        { new PickleBuilder().Proto(2).Global("builtins", "set").Mark().Op((byte)'}').Str("k").Global("m", "Net").EmptyTuple().NewObj().Op((byte)'s').Tuple().Reduce().Stop().ToArray(), FormatErrorKind.UnsafeGlobal, "passes an object made by m.Net to builtins.set" },
        { new PickleBuilder().Proto(4).Global("builtins", "set").Mark().Op(0x8f).Mark().Global("m", "Net").EmptyTuple().NewObj().Op(0x90).Tuple().Reduce().Stop().ToArray(), FormatErrorKind.UnsafeGlobal, "passes an object made by m.Net to builtins.set" },
        // A list passed to a call while empty, then given a NEWOBJ-made object through the memo: found where the call keeps it.
        { new PickleBuilder().Proto(2).Global("builtins", "set").Mark().Global("collections", "OrderedDict").Mark().Op((byte)']').Put(0).Tuple().Reduce()
            .Get(0).Global("m", "Net").EmptyTuple().NewObj().Op((byte)'a').Op((byte)'0').Tuple().Reduce().Stop().ToArray(), FormatErrorKind.UnsafeGlobal, "passes an object made by m.Net to builtins.set" },
        { [0x80, 2, (byte)'}', (byte)'(', (byte)'K', 1, (byte)'u', (byte)'.'], FormatErrorKind.Corrupt, "SETITEMS with an odd number of items" },
        { [0x80, 2, (byte)'X', 0xff, 0xff, 0xff, 0xff, (byte)'.'], FormatErrorKind.LimitExceeded, "pickle item longer than 2 GiB" },
        { [0x80, 2, (byte)'X', 0xff, 0xff, 0xff, 0x7f, (byte)'.'], FormatErrorKind.Corrupt, "pickle ends inside an opcode (truncated?)" },
        { [0x80, 2, (byte)'X', 4, 0, 0, 0, (byte)'a', (byte)'b', (byte)'.'], FormatErrorKind.Corrupt, "pickle ends inside an opcode (truncated?)" },
        { [0x80, 2, (byte)'X', 3, 0, 0, 0, (byte)'a', (byte)'b', (byte)'.'], FormatErrorKind.Corrupt, "pickle ends without STOP" },
        { [0x80, 2, (byte)'0', (byte)'N', (byte)'.'], FormatErrorKind.Corrupt, "pickle stack underflow" },
        { [0x80, 2, (byte)'N', (byte)'1', (byte)'.'], FormatErrorKind.Corrupt, "pickle pops a mark that was never set" },
        { [.. "I5"u8], FormatErrorKind.Corrupt, "pickle ends inside an opcode (truncated?)" },
        { new PickleBuilder().Proto(2).Global("torch.nn.modules.module", "Module").EmptyDict().Build().Stop().ToArray(), FormatErrorKind.UnsafeGlobal, "sets attributes of something that is not an object (a module or a class)" },
        { new PickleBuilder().Proto(2).Global("builtins", "set").Mark().Int(1).Op((byte)']').Mark().Global("m", "Net").EmptyTuple().NewObj().Op((byte)'e').Tuple().Reduce().Stop().ToArray(), FormatErrorKind.UnsafeGlobal, "passes an object made by m.Net to builtins.set" },
        { new PickleBuilder().Proto(2).Global("builtins", "set").Mark().Op((byte)'}').Global("m", "Net").EmptyTuple().NewObj().Int(1).Op((byte)'s').Tuple().Reduce().Stop().ToArray(), FormatErrorKind.UnsafeGlobal, "passes an object made by m.Net to builtins.set" },
        { CostlyKey(key => [(byte)'}', .. key, (byte)'N', (byte)'s']), FormatErrorKind.LimitExceeded, "a dict key or set member that would take more than 10,000,000 steps to hash" },
        { CostlyKey(key => [0x8f, (byte)'(', .. key, 0x90]), FormatErrorKind.LimitExceeded, "a dict key or set member that would take more than 10,000,000 steps to hash" },
        { CostlyKey(key => [(byte)'(', .. key, 0x91]), FormatErrorKind.LimitExceeded, "a dict key or set member that would take more than 10,000,000 steps to hash" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Parse_MalformedOrUnsupported_IsOneLineNamingIt(byte[] pickle, FormatErrorKind kind, string problem)
    {
        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(pickle, "bad.pt"));

        Assert.Equal(kind, error.Kind);
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.StartsWith("bad.pt: data.pkl ", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void Parse_ValueOutOfEveryRange_IsCorruptNamingTheOverflow()
    {
        // A storage offset of 2**70: the format allows it, no torch.save writes it.
        var bytes = new PickleBuilder().Proto(2).Global("torch._utils", "_rebuild_tensor_v2").Mark().Storage("FloatStorage", "0", "cuda:0", 4)
            .Raw([0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x40]).Mark().Int(4).Tuple().Mark().Int(1).Tuple().False().EmptyDict().Tuple().Reduce().Stop().ToArray();

        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(bytes, "big.pt"));

        Assert.Equal(FormatErrorKind.Corrupt, error.Kind);
        Assert.StartsWith("big.pt: data.pkl is corrupt at byte ", error.Message, StringComparison.Ordinal);
        Assert.Contains(": OverflowException: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_FramesBackToBack_AreRead()
    {
        byte[] bytes = [0x80, 4, 0x95, 1, 0, 0, 0, 0, 0, 0, 0, (byte)'N', 0x95, 1, 0, 0, 0, 0, 0, 0, 0, (byte)'.'];

        Assert.IsType<PyNone>(PickleReader.Parse(bytes, "ok.pt").Root);
    }

    [Fact]
    public void Parse_StackOpcodesPythonsPicklerRarelyWrites_DoWhatCPythonDoes()
    {
        // DUP, POP, POP_MARK, INST and OBJ (protocol 0/1 class calls), BINBYTES8 and BINUNICODE8 (protocol 4).
        var dup = Assert.IsType<PyTuple>(PickleReader.Parse([0x80, 2, (byte)'K', 7, (byte)'2', 0x86, (byte)'.'], "dup.pt").Root);
        var popped = PickleReader.Parse([0x80, 2, (byte)'N', (byte)'K', 1, (byte)'0', (byte)'.'], "pop.pt").Root;
        var popMark = PickleReader.Parse([0x80, 2, (byte)'N', (byte)'(', (byte)'K', 1, (byte)'K', 2, (byte)'1', (byte)'.'], "popmark.pt").Root;
        var inst = Assert.IsType<PyInstance>(PickleReader.Parse([.. "(K\x05icollections\nOrderedDict\n."u8], "inst.pt").Root);
        var obj = Assert.IsType<PyInstance>(PickleReader.Parse(new PickleBuilder().Proto(1).Mark().Global("collections", "OrderedDict").Op((byte)'K', 3).Op((byte)'o').Stop().ToArray(), "obj.pt").Root);
        var bytes8 = Assert.IsType<PyBytes>(PickleReader.Parse([0x80, 4, 0x8e, 3, 0, 0, 0, 0, 0, 0, 0, (byte)'a', (byte)'b', (byte)'c', (byte)'.'], "b8.pt").Root);
        var unicode8 = Assert.IsType<PyString>(PickleReader.Parse([0x80, 4, 0x8d, 2, 0, 0, 0, 0, 0, 0, 0, 0xc3, 0xa9, (byte)'.'], "u8.pt").Root);

        Assert.Equal([7, 7], dup.Items.Select(i => (int)Assert.IsType<PyInt>(i).Value));
        Assert.IsType<PyNone>(popped);
        Assert.IsType<PyNone>(popMark);
        Assert.Equal(("collections.OrderedDict", 5), (inst.ClassName, (int)Assert.IsType<PyInt>(Assert.Single(Assert.IsType<PyTuple>(inst.Arguments).Items)).Value));
        Assert.False(inst.IsConstructed);
        Assert.Equal(("collections.OrderedDict", 3), (obj.ClassName, (int)Assert.IsType<PyInt>(Assert.Single(Assert.IsType<PyTuple>(obj.Arguments).Items)).Value));
        Assert.Equal("abc", Encoding.ASCII.GetString(bytes8.Value));
        Assert.Equal("\u00e9", unicode8.Value);
    }

    [Fact]
    public void Parse_NewObj_MarksTheInstanceAsConstructedNotCalled()
    {
        var instance = Assert.IsType<PyInstance>(PickleReader.Parse(new PickleBuilder().Proto(2).Global("m", "Net").EmptyTuple().NewObj().Stop().ToArray(), "ok.pt").Root);

        Assert.True(instance.IsConstructed);
    }

    [Fact]
    public void Parse_NameOfExactlyTheLongestLength_IsRead()
    {
        var name = new string('a', 512);

        Assert.Equal("m." + name, Assert.IsType<PyGlobal>(PickleReader.Parse(new PickleBuilder().Proto(2).Global("m", name).Stop().ToArray(), "ok.pt").Root).FullName);
        Assert.Equal(new string('m', 512) + ".x", Assert.IsType<PyGlobal>(PickleReader.Parse(new PickleBuilder().Proto(2).Global(new string('m', 512), "x").Stop().ToArray(), "ok.pt").Root).FullName);
    }

    [Fact]
    public void Parse_ElementCountAtTheLargestPossible_IsRead()
    {
        var storage = Assert.IsType<PyStorage>(PickleReader.Parse(new PickleBuilder().Proto(2).Storage("ByteStorage", "0", "cuda:0", long.MaxValue / 16).Stop().ToArray(), "ok.pt").Root);

        Assert.Equal(long.MaxValue / 16, storage.Storage.Numel);
    }

    [Fact]
    public void Parse_ExactlyTheOpcodeLimit_IsRead_AndOneMoreIsRefused()
    {
        // N, then POP_MARK pairs (two opcodes that push nothing), then STOP: 6,000,000 opcodes.
        byte[] Pickle(int pairs) => [(byte)'N', .. Enumerable.Repeat(new[] { (byte)'(', (byte)'1' }, pairs).SelectMany(p => p), (byte)'.'];

        Assert.IsType<PyNone>(PickleReader.Parse(Pickle((PickleReader.MaxOps - 2) / 2), "ok.pt").Root);
        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse([0x80, 2, .. Pickle((PickleReader.MaxOps - 2) / 2)], "big.pt")); // PROTO: one opcode more
        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.EndsWith("the pickle holds more than 6,000,000 opcodes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ExactlyTheMemoLimit_IsRead_AndOneMoreValueIsRefused()
    {
        byte[] Pickle(int memoized) => [0x80, 4, (byte)'N', .. Enumerable.Repeat((byte)0x94, memoized), (byte)'.'];

        Assert.IsType<PyNone>(PickleReader.Parse(Pickle(PickleReader.MaxObjects), "ok.pt").Root);
        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(Pickle(PickleReader.MaxObjects + 1), "big.pt"));
        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.Contains("the pickle memoizes more than 1,000,000 values", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ExactlyTheMarkLimit_IsRead_AndOneMoreIsRefused()
    {
        byte[] Pickle(int marks) => [0x80, 2, .. Enumerable.Repeat((byte)'(', marks), .. Enumerable.Repeat((byte)'1', marks), (byte)'N', (byte)'.'];

        Assert.IsType<PyNone>(PickleReader.Parse(Pickle(100_000), "ok.pt").Root);
        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(Pickle(100_001), "big.pt"));
        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.Contains("more than 100,000 open marks", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_KeyJustWithinTheHashBound_IsRead()
    {
        // 3,000 references to one tuple of 3,000 ints: 9 million steps.
        var bytes = Key(3_000, 3_000, key => [(byte)'}', .. key, (byte)'N', (byte)'s']);

        Assert.Single(Assert.IsType<PyDict>(PickleReader.Parse(bytes, "ok.pt").Root).Items);
    }

    [Fact]
    public void Parse_KeyOfExactlyTheHashBound_IsRead_OneStepMore_IsRefused()
    {
        // 1 + references × (1 + ints): 1 + 2,151 × 4,649 = 10,000,000 steps; 1 + 2,000 × 5,000 = 10,000,001.
        var atTheBound = Key(2_151, 4_648, key => [(byte)'}', .. key, (byte)'N', (byte)'s']);
        var oneMore = Key(2_000, 4_999, key => [(byte)'}', .. key, (byte)'N', (byte)'s']);

        Assert.Single(Assert.IsType<PyDict>(PickleReader.Parse(atTheBound, "ok.pt").Root).Items);
        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(oneMore, "costly.pt"));
        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.Contains("more than 10,000,000 steps to hash", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_KeyDoublingFortyLevelsDeep_IsRefused()
    {
        // t = (1,); t = (t, t) forty times: 2^41 steps for Python to hash, 41 tuples for the check.
        byte[] bytes = [0x80, 2, (byte)'}', (byte)'K', 1, 0x85, .. Repeat([(byte)'2', 0x86], 40), (byte)'N', (byte)'s', (byte)'.'];

        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(bytes, "doubling.pt"));
        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.Equal($"doubling.pt: data.pkl at byte {bytes.Length - 1}: a dict key or set member that would take more than 10,000,000 steps to hash (a consumer's torch.load would never finish)", error.Message);
    }

    [Theory]
    [InlineData("objects", "the pickle builds more than 1,000,000 objects")]
    [InlineData("pushes", "the pickle pushes more than 3,000,000 values")]
    [InlineData("stack", "pickle stack grows beyond a million items")]
    [InlineData("memo writes", "the pickle writes the memo more than 1,000,064 times")]
    public void Parse_ExactlyAtEachBound_IsRead_AndOneMoreIsRefused(string bound, string refusal)
    {
        // Each pickle ends with a single value; the second makes one object, value, item or write more.
        byte[] Pickle(int n) => bound switch
        {
            "objects" => [.. Repeat([(byte)']', (byte)'0'], n - 1), (byte)']', (byte)'.'],
            "pushes" => [(byte)'N', .. Repeat([(byte)'2', (byte)'0'], n - 1), (byte)'.'], // DUP pushes without making an object
            "stack" => [(byte)'N', .. Repeat([(byte)'2'], n - 1), .. Repeat([(byte)'0'], n - 1), (byte)'.'],
            _ => [(byte)'N', .. Repeat([(byte)'q', 0], n), (byte)'.'],
        };
        var limit = bound switch { "objects" => PickleReader.MaxObjects, "pushes" => PickleReader.MaxPushes, "stack" => 1_000_000, _ => PickleReader.MaxPuts };

        Assert.NotNull(PickleReader.Parse(Pickle(limit), "ok.pt").Root);
        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(Pickle(limit + 1), "big.pt"));
        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.Contains(refusal, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_CallPassingExactlyTheSearchBound_IsRead_OneContainerMore_IsRefused()
    {
        // set([(0,), (1,), ...]): the arguments' tuple, the list and its tuples are what is searched.
        var atTheBound = SetOfTuples(4_094);
        var oneMore = SetOfTuples(4_095);

        Assert.Equal("builtins.set", Assert.IsType<PyInstance>(PickleReader.Parse(atTheBound, "ok.pt").Root).ClassName);
        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(oneMore, "wide.pt"));
        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.Equal($"wide.pt: data.pkl at byte {oneMore.Length - 1}: the arguments of a call to builtins.set hold more than 4,096 containers and objects, more than TorchFerry searches for objects the call would iterate", error.Message);
    }

    [Fact]
    public void Parse_ObjectPassedToACallAfterManyScalarsAndSharedTuples_IsFound()
    {
        // set([0, ..., 4999, t, t, ..., m.Net()]): scalars and a tuple read back 5,000 times cost no
        // search, so the object after them is found (a bound counting every value let it through).
        var builder = new PickleBuilder().Proto(2).Global("builtins", "set").Op((byte)']').Mark();
        for (var i = 0; i < 5_000; i++)
        {
            builder.Int(i);
        }

        builder.Int(1).Op(0x85).Put(1);
        for (var i = 0; i < 5_000; i++)
        {
            builder.Get(1);
        }

        var bytes = builder.Global("m", "Net").EmptyTuple().NewObj().Op((byte)'e').Op(0x85).Reduce().Stop().ToArray();

        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(bytes, "hidden.pt"));
        Assert.Equal(FormatErrorKind.UnsafeGlobal, error.Kind);
        Assert.Contains("passes an object made by m.Net to builtins.set", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_CallsSearchingExactlyTheBoundInAll_AreRead_OneContainerMore_IsRefused()
    {
        // One list of 4,094 tuples passed to set() 2,441 times (4,096 searched each), then a last call
        // making up 10,000,000 in all: many cheap calls over one shared list cannot search without end.
        byte[] Pickle(int lastTuples)
        {
            var builder = new PickleBuilder().Proto(2).Global("builtins", "set").Put(0).Op((byte)'0');
            AppendTuples(builder, 4_094).Put(1).Op((byte)'0');
            for (var call = 0; call < 2_441; call++)
            {
                builder.Get(0).Get(1).Op(0x85).Reduce().Op((byte)'0');
            }

            return AppendTuples(builder.Get(0), lastTuples).Op(0x85).Reduce().Stop().ToArray();
        }

        Assert.NotNull(PickleReader.Parse(Pickle(10_000_000 - (2_441 * 4_096) - 2), "ok.pt").Root);
        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(Pickle(10_000_000 - (2_441 * 4_096) - 1), "many.pt"));
        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.EndsWith("the pickle's calls pass more than 10,000,000 containers and objects in all to search for objects they would iterate", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnicodeWithLoneSurrogateEscapes_KeepsThemAsCodeUnits()
    {
        // pickle.loads(b'V\\ud800\\udfff\\U0001f600\n.') in CPython is '\ud800\udfff😀': lone surrogates
        // stay single code units (the oracle cannot print them back, so this case is written here).
        var root = PickleReader.Parse("V\\ud800\\udfff\\U0001f600\n."u8.ToArray(), "text.pt").Root;

        Assert.Equal("\ud800\udfff\U0001f600", Assert.IsType<PyString>(root).Value);
    }

    [Fact]
    public void Parse_NewObjEx_MarksTheInstanceAsConstructed()
    {
        var instance = Assert.IsType<PyInstance>(PickleReader.Parse(new PickleBuilder().Proto(4).Global("m", "Net").EmptyTuple().EmptyDict().Op(0x92).Stop().ToArray(), "ok.pt").Root);

        Assert.True(instance.IsConstructed);
    }

    [Fact]
    public void Parse_WithACancelledToken_StopsAtOnce()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => PickleReader.Parse([0x80, 2, (byte)'N', (byte)'.'], "ok.pt", cancelled.Token));
    }

    private static byte[] SetOfTuples(int tuples) =>
        AppendTuples(new PickleBuilder().Proto(2).Global("builtins", "set"), tuples).Op(0x85).Reduce().Stop().ToArray();

    // A list of distinct one-item tuples, left on the stack.
    private static PickleBuilder AppendTuples(PickleBuilder builder, int tuples)
    {
        builder.Op((byte)']').Mark();
        for (var i = 0; i < tuples; i++)
        {
            builder.Int(i).Op(0x85);
        }

        return builder.Op((byte)'e');
    }

    private static IEnumerable<byte> Repeat(byte[] ops, int times) => Enumerable.Repeat(ops, times).SelectMany(o => o);

    // A tuple of 4,000 references to one tuple of 4,000 ints (16 million steps to hash), used by wrap as a key or member.
    private static byte[] CostlyKey(Func<byte[], byte[]> wrap) => Key(4_000, 4_000, wrap);

    private static byte[] Key(int references, int ints, Func<byte[], byte[]> wrap)
    {
        byte[] inner = [(byte)'(', .. Repeat([(byte)'K', 1], ints), (byte)'t', (byte)'q', 0, (byte)'0'];
        byte[] outer = [(byte)'(', .. Repeat([(byte)'h', 0], references), (byte)'t'];
        return [0x80, 4, .. inner, .. wrap(outer), (byte)'.'];
    }
}
