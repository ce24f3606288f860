using System.Buffers.Binary;
using System.Text;

namespace TorchFerry.Format.Pickle;

/// <summary>
/// Rewrites the storage locations of a parsed pickle by splicing opcodes, leaving every other byte
/// as it was. A location the pickler memoized is rewritten where it is defined when only storages
/// read it back; if anything else reads the same memo slot, the original value stays in the memo
/// and the storage gets a fresh string. Protocol 4+ frame lengths are fixed up.
/// </summary>
internal static class PickleRewriter
{
    private const byte Pop = (byte)'0';
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

        // Literals first: whether a memoized definition can change in place decides how its reads go.
        foreach (var (opIndex, location) in slotOps)
        {
            var op = document.Ops[opIndex];
            if (!IsStringLiteral(op.Code))
            {
                continue;
            }

            var target = map(location);
            if (target == location)
            {
                continue;
            }

            changed++;
            var puts = putsByOrigin[opIndex].ToList();
            var readElsewhere = puts.SelectMany(p => getsByPut[p]).Any(g => !slotOps.ContainsKey(g));
            if (!readElsewhere)
            {
                replacements[opIndex] = Literal(target);
                definedInPlace.UnionWith(puts);
                continue;
            }

            // Keep the memo's value for its other readers: PUT, then POP the original and push the target.
            var put = puts[0];
            var putOp = document.Ops[put];
            replacements[put] = [.. document.Bytes.AsSpan(putOp.Offset, putOp.Length), Pop, .. Literal(target)];
            foreach (var extra in puts.Skip(1))
            {
                var extraOp = document.Ops[extra];
                replacements[extra] = [Pop, .. Literal(location), .. document.Bytes.AsSpan(extraOp.Offset, extraOp.Length), Pop, .. Literal(target)];
            }
        }

        var putOfGet = document.MemoGets.ToDictionary(g => g.GetOp, g => g.PutOp);
        foreach (var (opIndex, location) in slotOps)
        {
            var op = document.Ops[opIndex];
            if (IsStringLiteral(op.Code))
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

    /// <summary><c>K\0 0</c> (push 0, pop) once for an odd count, then <c>N0</c> (push None, pop) pairs.</summary>
    private static byte[] NoOps(int count)
    {
        if (count < 2)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, "pickle padding needs at least two bytes");
        }

        var bytes = new byte[count];
        var i = 0;
        if (count % 2 == 1)
        {
            bytes[0] = (byte)'K';
            bytes[1] = 0;
            bytes[2] = Pop;
            i = 3;
        }

        for (; i < count; i += 2)
        {
            bytes[i] = (byte)'N';
            bytes[i + 1] = Pop;
        }

        return bytes;
    }

    private static bool IsStringLiteral(byte code) => code is (byte)'X' or 0x8c or 0x8d or (byte)'V' or (byte)'T' or (byte)'U' or (byte)'S';

    private static byte[] Literal(string value)
    {
        var utf8 = Encoding.UTF8.GetBytes(value);
        var bytes = new byte[5 + utf8.Length];
        bytes[0] = (byte)'X';
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(1), (uint)utf8.Length);
        utf8.CopyTo(bytes, 5);
        return bytes;
    }

    private static byte[] Splice(PickleDocument document, Dictionary<int, byte[]> replacements)
    {
        var ops = document.Ops;
        var source = document.Bytes;
        var newLength = new long[ops.Length];
        for (var i = 0; i < ops.Length; i++)
        {
            newLength[i] = replacements.TryGetValue(i, out var r) ? r.Length : ops[i].Length;
        }

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
                    length += newLength[j];
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
