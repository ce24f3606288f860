using System.Buffers.Binary;
using System.Text;

namespace TorchFerry.Format.Pickle;

/// <summary>
/// Rewrites the storage locations of a parsed pickle by splicing opcodes, leaving every other byte
/// as it was. A location the pickler memoized is rewritten where it is defined; storages read the
/// new value back, and anything else that read the same memo slot gets the original string as a
/// literal. Protocol 4+ frame lengths are fixed up. Only opcodes torch's weights-only unpickler
/// accepts are written (no POP): the result must load under <c>torch.load(weights_only=True)</c>,
/// the default since torch 2.6, whenever the source did.
/// </summary>
internal static class PickleRewriter
{
    private const byte Frame = 0x95;

    /// <summary>The rewritten pickle and how many location slots changed.</summary>
    /// <param name="document">The parsed pickle.</param>
    /// <param name="map">The new location for each recorded one.</param>
    /// <param name="padding">No-op bytes to insert before STOP (never 1: no opcode is 1 byte long and does nothing).</param>
    public static (byte[] Bytes, int Changed) Rewrite(PickleDocument document, Func<string, string> map, int padding = 0)
    {
        var slotOps = new Dictionary<int, string>();
        foreach (var slot in document.LocationSlots)
        {
            slotOps[slot.OpIndex] = slot.Location;
        }

        var getsByPut = document.MemoGets.ToLookup(g => g.PutOp, g => g.GetOp);
        var putsByOrigin = document.MemoPuts.ToLookup(p => p.Value, p => p.Key);
        var replacements = new Dictionary<int, byte[]>();
        var definedInPlace = new HashSet<int>();
        var changed = 0;

        // Literals first: a memoized definition changes in place, so the memo holds the target for
        // the storages that read it back; every other reader of that slot gets the original string
        // as a literal of its own (a string's identity means nothing once loaded).
        foreach (var (opIndex, location) in slotOps)
        {
            var op = document.Ops[opIndex];
            if (!PickleOp.IsStringLiteral(op.Code))
            {
                continue;
            }

            var target = map(location);
            if (target == location)
            {
                continue;
            }

            changed++;
            replacements[opIndex] = Literal(target);
            foreach (var put in putsByOrigin[opIndex])
            {
                definedInPlace.Add(put);
                foreach (var get in getsByPut[put].Where(g => !slotOps.ContainsKey(g)))
                {
                    replacements[get] = Literal(location);
                }
            }
        }

        var putOfGet = document.MemoGets.ToDictionary(g => g.GetOp, g => g.PutOp);
        foreach (var (opIndex, location) in slotOps)
        {
            var op = document.Ops[opIndex];
            if (PickleOp.IsStringLiteral(op.Code))
            {
                continue;
            }

            if (!putOfGet.TryGetValue(opIndex, out var put))
            {
                throw new ArtifactFormatException(FormatErrorKind.Unsupported, $"a storage location comes from opcode 0x{op.Code:x2} at byte {op.Offset}, which TorchFerry cannot rewrite");
            }

            var target = map(location);
            if (target == location)
            {
                continue;
            }

            changed++;
            if (!definedInPlace.Contains(put))
            {
                replacements[opIndex] = Literal(target);
            }
        }

        if (padding > 0)
        {
            var stop = document.Ops.Length - 1;
            replacements[stop] = [.. NoOps(padding), (byte)'.'];
        }

        return (Splice(document, replacements), changed);
    }

    /// <summary>
    /// Bytes that change nothing a loader returns: the root, on top of the stack just before STOP,
    /// memoized again under slot 0 (<c>BINPUT</c>, 2 bytes; <c>LONG_BINPUT</c>, 5), which nothing reads
    /// after. Both are opcodes torch's weights-only unpickler accepts; POP, the obvious filler, is not.
    /// Any count but 1 and 3 can be made of 2s and 5s.
    /// </summary>
    private static byte[] NoOps(int count)
    {
        if (count is < 2 or 3)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, "pickle padding is made of 2- and 5-byte opcodes: 1 and 3 bytes cannot be made");
        }

        var bytes = new byte[count];
        var longPuts = count % 2 == 1 ? 1 : 0;
        var i = 0;
        for (; i < longPuts * 5; i += 5)
        {
            bytes[i] = (byte)'r'; // LONG_BINPUT 0
        }

        for (; i < count; i += 2)
        {
            bytes[i] = (byte)'q'; // BINPUT 0
        }

        return bytes;
    }

    /// <summary>The padding to use for <paramref name="gap"/> bytes modulo 64: the gap itself, or 64 more where it cannot be made.</summary>
    public static int PaddingFor(int gap) => gap is 1 or 3 ? gap + 64 : gap;

    private static byte[] Literal(string value)
    {
        var utf8 = Encoding.UTF8.GetBytes(value);
        var bytes = new byte[5 + utf8.Length];
        bytes[0] = (byte)'X';
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(1), (uint)utf8.Length);
        utf8.CopyTo(bytes, 5);
        return bytes;
    }

    /// <summary>The pickle with the opcodes at the given indexes replaced (an empty replacement removes one); frame lengths follow.</summary>
    public static byte[] Splice(PickleDocument document, Dictionary<int, byte[]> replacements)
    {
        var ops = document.Ops;
        var source = document.Bytes;
        using var output = new MemoryStream(source.Length + (replacements.Count * 16));
        Span<byte> header = stackalloc byte[9];
        for (var i = 0; i < ops.Length; i++)
        {
            var op = ops[i];
            if (op.Code == Frame)
            {
                // A frame holds the opcodes that start inside it; its length follows their new sizes.
                var end = op.Offset + 9 + (long)BinaryPrimitives.ReadUInt64LittleEndian(source.AsSpan(op.Offset + 1));
                long length = 0;
                for (var j = i + 1; j < ops.Length && ops[j].Offset < end; j++)
                {
                    length += replacements.TryGetValue(j, out var r) ? r.Length : ops[j].Length;
                }

                header[0] = Frame;
                BinaryPrimitives.WriteUInt64LittleEndian(header[1..], (ulong)length);
                output.Write(header);
            }
            else if (replacements.TryGetValue(i, out var replacement))
            {
                output.Write(replacement);
            }
            else
            {
                output.Write(source, op.Offset, op.Length);
            }
        }

        return output.ToArray();
    }
}
