using TorchFerry.Format.Pickle;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.WeightsOnly;

/// <summary>The line inspect gives for each opcode torch's weights-only loader does not know: what it is and which protocol writes it.</summary>
public sealed class WeightsOnlyBlockerTests
{
    public static TheoryData<string, byte[], string> Opcodes => new()
    {
        { "BINFLOAT", [0x80, 2, (byte)'G', 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, (byte)'.'], "BINFLOAT (a float)" },
        { "FLOAT", [.. "F1.5\n."u8], "FLOAT (a float, protocol 0)" },
        { "FRAME", [0x80, 4, 0x95, 1, 0, 0, 0, 0, 0, 0, 0, (byte)'N', (byte)'.'], "FRAME (pickle protocol 4 or later)" },
        { "STACK_GLOBAL", [0x80, 4, 0x8c, 11, .. "collections"u8, 0x8c, 11, .. "OrderedDict"u8, 0x93, (byte)'.'], "STACK_GLOBAL (pickle protocol 4 or later)" },
        { "MEMOIZE", [0x80, 4, (byte)'N', 0x94, (byte)'.'], "MEMOIZE (pickle protocol 4 or later)" },
        { "SHORT_BINUNICODE", [0x80, 4, 0x8c, 1, (byte)'a', (byte)'.'], "SHORT_BINUNICODE (pickle protocol 4 or later)" },
        { "BINUNICODE8", [0x80, 4, 0x8d, 1, 0, 0, 0, 0, 0, 0, 0, (byte)'a', (byte)'.'], "BINUNICODE8 (pickle protocol 4 or later)" },
        { "BINBYTES", [0x80, 3, (byte)'B', 1, 0, 0, 0, (byte)'a', (byte)'.'], "BINBYTES (bytes, pickle protocol 3 or later)" },
        { "SHORT_BINBYTES", [0x80, 3, (byte)'C', 1, (byte)'a', (byte)'.'], "SHORT_BINBYTES (bytes, pickle protocol 3 or later)" },
        { "BINBYTES8", [0x80, 4, 0x8e, 1, 0, 0, 0, 0, 0, 0, 0, (byte)'a', (byte)'.'], "BINBYTES8 (bytes, pickle protocol 4 or later)" },
        { "BYTEARRAY8", [0x80, 5, 0x96, 1, 0, 0, 0, 0, 0, 0, 0, (byte)'a', (byte)'.'], "BYTEARRAY8 (pickle protocol 5)" },
        { "NEWOBJ_EX", new PickleBuilder().Proto(4).Global("m", "Net").EmptyTuple().EmptyDict().Op(0x92).Stop().ToArray(), "NEWOBJ_EX (pickle protocol 4 or later)" },
        { "ADDITEMS", [0x80, 4, 0x8f, (byte)'(', (byte)'K', 1, 0x90, (byte)'.'], "ADDITEMS (a set, protocol 4 or later)" },
        { "FROZENSET", [0x80, 4, (byte)'(', (byte)'K', 1, 0x91, (byte)'.'], "FROZENSET (pickle protocol 4 or later)" },
        { "LONG4", [0x80, 2, 0x8b, 1, 0, 0, 0, 5, (byte)'.'], "LONG4 (an integer of more than 255 bytes)" },
        { "POP", [0x80, 2, (byte)'N', (byte)'N', (byte)'0', (byte)'.'], "POP" },
        { "POP_MARK", [0x80, 2, (byte)'N', (byte)'(', (byte)'N', (byte)'1', (byte)'.'], "POP_MARK" },
        { "DUP", [0x80, 2, (byte)'N', (byte)'2', (byte)'0', (byte)'.'], "DUP" },
        { "INST", [.. "(icollections\nOrderedDict\n."u8], "INST (protocol 0)" },
        { "OBJ", new PickleBuilder().Proto(1).Mark().Global("collections", "OrderedDict").Op((byte)'o').Stop().ToArray(), "OBJ (protocol 0)" },
        { "INT", [.. "I5\n."u8], "INT (protocol 0)" },
        { "LONG", [.. "L5\n."u8], "LONG (protocol 0)" },
        { "STRING", [.. "S'a'\n."u8], "STRING (protocol 0)" },
        { "BINSTRING", [(byte)'T', 1, 0, 0, 0, (byte)'a', (byte)'.'], "BINSTRING" },
        { "UNICODE", [.. "Va\n."u8], "UNICODE (protocol 0)" },
        { "LIST", [.. "(l."u8], "LIST (protocol 0)" },
        { "DICT", [.. "(d."u8], "DICT (protocol 0)" },
        { "PUT", [.. "Np0\n."u8], "PUT (protocol 0)" },
        { "GET", [.. "Np0\n0g0\n."u8], "GET (protocol 0)" },
    };

    [Theory]
    [MemberData(nameof(Opcodes))]
    public void Blockers_OpcodeTorch1_13DoesNotKnow_IsNamedWithWhatWritesIt(string opcode, byte[] pickle, string described)
    {
        var document = PickleReader.Parse(pickle, opcode + ".pt");

        var blockers = WeightsOnlyAllowlist.Torch1_13.Blockers(document);

        Assert.Contains("opcode " + described, blockers);
        Assert.All(blockers.Where(b => b.StartsWith("opcode ", StringComparison.Ordinal)), b => Assert.DoesNotContain("0x", b, StringComparison.Ordinal));
    }

    [Fact]
    public void Blockers_PlainProtocol2PickleHasNone_AndAFloatBlocksOnly1_13()
    {
        var plain = PickleReader.Parse(new PickleBuilder().Proto(2).Global("collections", "OrderedDict").EmptyTuple().Reduce().Stop().ToArray(), "ok.pt");

        Assert.Empty(WeightsOnlyAllowlist.Torch1_13.Blockers(plain));
        Assert.Empty(WeightsOnlyAllowlist.Torch2_6.Blockers(plain));
        Assert.Equal(["opcode BINFLOAT (a float)"], WeightsOnlyAllowlist.Torch1_13.Blockers(PickleReader.Parse([0x80, 2, (byte)'G', 0, 0, 0, 0, 0, 0, 0, 0, (byte)'.'], "f.pt")));
        Assert.Empty(WeightsOnlyAllowlist.Torch2_6.Blockers(PickleReader.Parse([0x80, 2, (byte)'G', 0, 0, 0, 0, 0, 0, 0, 0, (byte)'.'], "f.pt")));
    }
}
