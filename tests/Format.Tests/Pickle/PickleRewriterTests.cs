using System.Text;
using TorchFerry.Format.Pickle;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Pickle;

public sealed class PickleRewriterTests
{
    [Fact]
    public void Rewrite_ChangesOnlyLocationStrings()
    {
        var bytes = new PickleBuilder().Proto(2).Mark().Str("cuda:0").Tensor1d("FloatStorage", "0", "cuda:0", 2).Tuple().Stop().ToArray();
        var document = PickleReader.Parse(bytes, "t.pt");

        var (rewritten, changed) = PickleRewriter.Rewrite(document, _ => "cpu");

        Assert.Equal(1, changed);
        var root = Assert.IsType<PyTuple>(PickleReader.Parse(rewritten, "t.pt").Root);
        Assert.Equal("cuda:0", Assert.IsType<PyString>(root.Items[0]).Value);
        Assert.Equal("cpu", Assert.IsType<PyTensor>(root.Items[1]).Storage.Location);
        Assert.Equal(bytes.Length - 3, rewritten.Length);
    }

    [Fact]
    public void Rewrite_LocationMemoizedBeforeAnyStorage_ReplacesTheStoragesReadsOnly()
    {
        // The location string is defined as data first (memo 0), and storages read it back.
        var bytes = new PickleBuilder().Proto(2).Mark().Str("cuda:0").Put(0)
            .Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Get(0).Int(1).Tuple().PersistentId()
            .Mark().Str("storage").Global("torch", "FloatStorage").Str("1").Get(0).Int(1).Tuple().PersistentId()
            .Tuple().Stop().ToArray();
        var document = PickleReader.Parse(bytes, "m.pt");

        var (rewritten, changed) = PickleRewriter.Rewrite(document, _ => "cpu");

        Assert.Equal(2, changed);
        var again = PickleReader.Parse(rewritten, "m.pt");
        var root = Assert.IsType<PyTuple>(again.Root);
        Assert.Equal("cuda:0", Assert.IsType<PyString>(root.Items[0]).Value);
        Assert.All(again.Storages.Values, s => Assert.Equal("cpu", s.Location));
    }

    public static TheoryData<string, byte[], byte[]> MemoOpcodes => new()
    {
        { "BINPUT and BINGET", [(byte)'q', 7], [(byte)'h', 7] },
        { "LONG_BINPUT and LONG_BINGET (past 255 memo slots)", [(byte)'r', 0x2c, 0x01, 0, 0], [(byte)'j', 0x2c, 0x01, 0, 0] },
        { "PUT and GET (protocol 0's text)", "p300\n"u8.ToArray(), "g300\n"u8.ToArray() },
        { "GET right after a text PUT's newline (of the key)", "p300\n"u8.ToArray(), "p301\ng300\n"u8.ToArray() },
    };

    [Theory]
    [MemberData(nameof(MemoOpcodes))]
    public void Rewrite_LocationMemoizedBeforeAnyStorage_IsFoundThroughEachMemoOpcode(string opcodes, byte[] put, byte[] get)
    {
        var bytes = new PickleBuilder().Proto(2).Mark().Str("cuda:0").Raw(put)
            .Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Raw(get).Int(1).Tuple().PersistentId()
            .Tuple().Stop().ToArray();

        var (rewritten, changed) = PickleRewriter.Rewrite(PickleReader.Parse(bytes, "m.pt"), _ => "cpu");

        Assert.True(changed == 1, opcodes);
        var again = PickleReader.Parse(rewritten, "m.pt");
        Assert.Equal("cuda:0", Assert.IsType<PyString>(Assert.IsType<PyTuple>(again.Root).Items[0]).Value);
        Assert.Equal("cpu", Assert.Single(again.Storages.Values).Location);
    }

    [Fact]
    public void Parse_LocationPushedByDup_IsRefusedNamingTheOpcode()
    {
        // DUP of the key: the location is the key itself, from an opcode that names no memo slot.
        var bytes = new PickleBuilder().Proto(2).Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Op((byte)'2').Int(1).Tuple().PersistentId().Stop().ToArray();

        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(bytes, "m.pt"));

        Assert.Equal(FormatErrorKind.Corrupt, error.Kind);
        Assert.Contains("a storage location comes from opcode 0x32, which cannot supply one", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rewrite_LocationReadBackAsDataAfterItsStorage_KeepsTheOriginalThere()
    {
        // torch.save's memo order: the storage's location literal is memoized, then a later value
        // that is the same string object is a memo read; that reader keeps "cuda:0".
        var bytes = new PickleBuilder().Proto(2).Mark()
            .Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Str("cuda:0").Put(7).Int(1).Tuple().PersistentId()
            .Get(7)
            .Mark().Str("storage").Global("torch", "FloatStorage").Str("1").Get(7).Int(1).Tuple().PersistentId()
            .Tuple().Stop().ToArray();

        var (rewritten, changed) = PickleRewriter.Rewrite(PickleReader.Parse(bytes, "r.pt"), _ => "cpu");

        Assert.Equal(2, changed);
        var again = PickleReader.Parse(rewritten, "r.pt");
        Assert.Equal("cuda:0", Assert.IsType<PyString>(Assert.IsType<PyTuple>(again.Root).Items[1]).Value);
        Assert.All(again.Storages.Values, s => Assert.Equal("cpu", s.Location));
    }

    [Fact]
    public void Parse_LocationReadBackInsideItsOwnPersistentId_IsRefusedAsUnsupported()
    {
        // A read of the location before its storage is named is not recorded (reads of every string
        // would cost memory for each); torch.save never writes one, so the pickle is refused.
        var bytes = new PickleBuilder().Proto(2)
            .Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Str("cuda:0").Put(7).Get(7).Op(0x30).Int(1).Tuple().PersistentId()
            .Stop().ToArray();

        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(bytes, "early.pt"));

        Assert.Equal(FormatErrorKind.Unsupported, error.Kind);
        Assert.Contains("'cuda:0' is read from the memo before its storage is named", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_LocationFromAMemoSlotWrittenAgain_IsRefusedAsUnsupported()
    {
        var bytes = new PickleBuilder().Proto(2).Mark().Str("cuda:0").Put(0)
            .Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Get(0).Str("x").Put(0).Op(0x30).Int(1).Tuple().PersistentId()
            .Tuple().Stop().ToArray();

        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(bytes, "slot.pt"));

        Assert.Equal(FormatErrorKind.Unsupported, error.Kind);
        Assert.Contains("written again before its storage is named", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rewrite_ProtocolFourFrame_LengthFollowsTheSplice()
    {
        var body = new PickleBuilder().Tensor1d("FloatStorage", "0", "cuda:0", 2).Stop().ToArray();
        var frame = new byte[9];
        frame[0] = 0x95;
        BitConverter.TryWriteBytes(frame.AsSpan(1), (ulong)body.Length);
        var bytes = new PickleBuilder().Proto(4).Raw(frame).Raw(body).ToArray();
        var document = PickleReader.Parse(bytes, "f.pt");

        var (rewritten, _) = PickleRewriter.Rewrite(document, _ => "cuda:10");

        Assert.Equal((ulong)(body.Length + 1), BitConverter.ToUInt64(rewritten, 3));
        Assert.Equal(rewritten.Length, 2 + 9 + body.Length + 1);
        Assert.Equal("cuda:10", Assert.Single(PickleReader.Parse(rewritten, "f.pt").Storages.Values).Location);
    }

    [Fact]
    public void Rewrite_TwoFrames_EachLengthFollowsItsOwnOpcodes()
    {
        // A storage in each frame: the first frame's length is its own opcodes', not the next frame's too.
        var first = new PickleBuilder().Mark().Tensor1d("FloatStorage", "0", "cuda:0", 2).ToArray();
        var second = new PickleBuilder().Tensor1d("FloatStorage", "1", "cuda:0", 2).Tuple().Stop().ToArray();
        var bytes = new PickleBuilder().Proto(4).Raw(FrameHeader(first.Length)).Raw(first).Raw(FrameHeader(second.Length)).Raw(second).ToArray();

        var (rewritten, changed) = PickleRewriter.Rewrite(PickleReader.Parse(bytes, "f.pt"), _ => "cpu");

        Assert.Equal(2, changed);
        Assert.Equal((ulong)(first.Length - 3), BitConverter.ToUInt64(rewritten, 3));
        Assert.Equal(0x95, rewritten[2 + 9 + first.Length - 3]);
        Assert.Equal((ulong)(second.Length - 3), BitConverter.ToUInt64(rewritten, 2 + 9 + first.Length - 3 + 1));
        Assert.All(PickleReader.Parse(rewritten, "f.pt").Storages.Values, s => Assert.Equal("cpu", s.Location));
    }

    [Fact]
    public void Rewrite_StoragesAlreadyOnTheTarget_AreNotCountedOrTouched()
    {
        // One literal and one memo read already on cpu beside one storage on cuda:0.
        var bytes = new PickleBuilder().Proto(2).Mark()
            .Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Str("cpu").Put(1).Int(1).Tuple().PersistentId()
            .Mark().Str("storage").Global("torch", "FloatStorage").Str("1").Get(1).Int(1).Tuple().PersistentId()
            .Storage("FloatStorage", "2", "cuda:0", 1)
            .Tuple().Stop().ToArray();

        var (rewritten, changed) = PickleRewriter.Rewrite(PickleReader.Parse(bytes, "m.pt"), location => location == "cuda:0" ? "cpu" : location);

        Assert.Equal(1, changed);
        Assert.Equal(bytes.Length - 3, rewritten.Length); // only "cuda:0" became "cpu"; the memo read is still one
        Assert.All(PickleReader.Parse(rewritten, "m.pt").Storages.Values, s => Assert.Equal("cpu", s.Location));
    }

    [Fact]
    public void Rewrite_MemoizedLocationChangedInPlace_StaysAMemoReadForItsOtherStorages()
    {
        var bytes = new PickleBuilder().Proto(2).Mark()
            .Mark().Str("storage").Global("torch", "FloatStorage").Str("0").Str("cuda:0").Put(1).Int(1).Tuple().PersistentId()
            .Mark().Str("storage").Global("torch", "FloatStorage").Str("1").Get(1).Int(1).Tuple().PersistentId()
            .Tuple().Stop().ToArray();

        var (rewritten, changed) = PickleRewriter.Rewrite(PickleReader.Parse(bytes, "m.pt"), _ => "cpu");

        Assert.Equal(2, changed);
        Assert.Equal(bytes.Length - 3, rewritten.Length); // one literal shorter, and the BINGET kept (no second literal)
        Assert.All(PickleReader.Parse(rewritten, "m.pt").Storages.Values, s => Assert.Equal("cpu", s.Location));
    }

    [Theory]
    [InlineData(2, "q\0")]
    [InlineData(4, "q\0q\0")]
    [InlineData(5, "r\0\0\0\0")]
    [InlineData(7, "r\0\0\0\0q\0")]
    public void Rewrite_Padding_IsMemoWritesOfTheRootBeforeStop(int padding, string expected)
    {
        var bytes = new PickleBuilder().Proto(2).Storage("FloatStorage", "0", "cuda:0", 1).Stop().ToArray();

        var (rewritten, _) = PickleRewriter.Rewrite(PickleReader.Parse(bytes, "m.pt"), _ => "cpu", padding);

        Assert.Equal(bytes.Length - 3 + padding, rewritten.Length);
        Assert.Equal(expected + ".", Encoding.Latin1.GetString(rewritten.AsSpan(rewritten.Length - padding - 1)));
        Assert.Equal("cpu", Assert.Single(PickleReader.Parse(rewritten, "m.pt").Storages.Values).Location);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Rewrite_PaddingNoOpcodesCanMake_IsRefused(int padding)
    {
        var document = PickleReader.Parse(new PickleBuilder().Proto(2).Storage("FloatStorage", "0", "cuda:0", 1).Stop().ToArray(), "m.pt");

        Assert.Throws<ArgumentOutOfRangeException>(() => PickleRewriter.Rewrite(document, _ => "cpu", padding));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 65)]
    [InlineData(2, 2)]
    [InlineData(3, 67)]
    [InlineData(4, 4)]
    [InlineData(63, 63)]
    public void PaddingFor_GapsOfOneAndThreeBytes_Take64More(int gap, int padding) =>
        Assert.Equal(padding, PickleRewriter.PaddingFor(gap));

    private static byte[] FrameHeader(int length)
    {
        var frame = new byte[9];
        frame[0] = 0x95;
        BitConverter.TryWriteBytes(frame.AsSpan(1), (ulong)length);
        return frame;
    }
}
