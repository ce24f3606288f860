using System.Buffers.Binary;
using System.Text;

namespace TorchFerry.TestSupport;

/// <summary>
/// Small archives made to hurt a reader (issue "Hostile archives"): each a few hundred bytes to a few
/// MiB, with what a careful reader must do with it. <see cref="Payloads"/> are the ones that run a
/// command when a real <c>torch.load</c> opens them (it touches <c>{marker}</c>).
/// </summary>
public static class HostileArchives
{
    /// <summary>Name, archive bytes, whether TorchFerry reads it (true) or refuses it (false).</summary>
    public static IEnumerable<(string Name, byte[] Archive, bool Readable)> All(string marker)
    {
        yield return ("deep-tuple-key", Archive(DeepTupleKey()), true);
        yield return ("billion-laughs", Archive(BillionLaughs()), true);
        yield return ("self-list-checkpoint", Archive(SelfListCheckpoint()), true);
        yield return ("huge-binary-int", Archive(Checkpoint(Long4(new byte[512 * 1024].Select((_, i) => (byte)(i * 7 + 1)).ToArray()))), true);
        yield return ("huge-decimal-int", Archive(Checkpoint([(byte)'L', .. Encoding.ASCII.GetBytes(new string('7', 5000)), (byte)'L', (byte)'\n'])), false);
        yield return ("twenty-million-digits", Archive(Checkpoint([(byte)'L', .. Encoding.ASCII.GetBytes(new string('9', 20_000_000)), (byte)'L', (byte)'\n'])), false);
        yield return ("storage-offset-2^70", Archive(TensorWithOffset([0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x40]), ("archive/data/0", new byte[8])), false);
        yield return ("put-abc", Archive([0x80, 2, (byte)']', .. "pabc\n"u8, (byte)'.']), false);
        yield return ("float-not-a-float", Archive([0x80, 2, (byte)'F', .. "not-a-float\n"u8, (byte)'.']), false);
        yield return ("corrupt-deflate-pickle", CorruptDeflatedPickle(), false);
        yield return ("zip64-size-max", Zip64SizeMax(), false);
        yield return ("zip64-count-max", Zip64CountMax(), false);
        yield return ("990k-empty-dicts", Archive(ManyEmptyDicts(990_000)), true);
        yield return ("list-of-itself-200k-times", Archive(Checkpoint([(byte)']', (byte)'q', 9, (byte)'(', .. Enumerable.Repeat(new byte[] { (byte)'h', 9 }, 200_000).SelectMany(b => b), (byte)'e'])), true);
        yield return ("list-of-itself-500k-times", Archive(Checkpoint([(byte)']', (byte)'q', 9, (byte)'(', .. Enumerable.Repeat(new byte[] { (byte)'h', 9 }, 500_000).SelectMany(b => b), (byte)'e'])), false);
        yield return ("tuple-key-sharing-256-by-8", Archive(SharedTupleKey()), false);
        yield return ("one-memo-slot-written-3m-times", Archive([0x80, 2, (byte)'U', 1, (byte)'a', .. Enumerable.Repeat(new byte[] { (byte)'q', 0 }, 3_000_000).SelectMany(b => b), (byte)'.']), false);
        yield return ("3.1m-empty-marks", Archive([0x80, 2, .. Enumerable.Repeat(new byte[] { (byte)'(', (byte)'1' }, 3_100_000).SelectMany(b => b), (byte)'N', (byte)'.']), false);
        yield return ("million-references-to-one-tensor", Archive(ManyReferencesToOneTensor(1_100_000), ("archive/data/0", new byte[8])), false);
        yield return ("1.2m-empty-dicts", Archive(ManyEmptyDicts(1_200_000)), false);
        yield return ("aliased-records", AliasedRecords(1000, 1024), false);
        yield return ("frames-inside-frames", Archive(NestedFrames()), false);
        yield return ("escape-sequence-key", Archive(EscapeKeyStateDict(), ("archive/data/0", new byte[8])), true);
        foreach (var (name, pickle) in Payloads(marker))
        {
            yield return (name, Archive(pickle), false);
        }
    }

    /// <summary>Pickles whose load by a real <c>torch.load</c> runs a command that creates <paramref name="marker"/>.</summary>
    public static IEnumerable<(string Name, byte[] Pickle)> Payloads(string marker)
    {
        var touch = $"touch {marker}";
        yield return ("torch+os.system", [0x80, 4, .. Short("torch"), .. Short("os.system"), 0x93, .. Short(touch), 0x85, (byte)'R', (byte)'.']);
        yield return ("builtins+getattr.__self__.eval", [0x80, 4, .. Short("builtins"), .. Short("getattr.__self__.eval"), 0x93, .. Short($"__import__('os').system('{touch}')"), 0x85, (byte)'R', (byte)'.']);
        yield return ("timeit.timeit", [0x80, 2, .. Global("timeit", "timeit"), .. Short("pass"), .. Short($"__import__('os').system('{touch}')"), 0x86, (byte)'R', (byte)'.']);
        yield return ("cProfile.run", [0x80, 2, .. Global("cProfile", "run"), .. Short($"__import__('os').system('{touch}')"), 0x85, (byte)'R', (byte)'.']);
        yield return ("pydoc.pipepager", [0x80, 2, .. Global("pydoc", "pipepager"), .. Short("x"), .. Short(touch), 0x86, (byte)'R', (byte)'.']);
    }

    /// <summary>A zip laid out as torch.save writes it, with <c>archive/data.pkl</c> and any other records.</summary>
    public static byte[] Archive(byte[] pickle, params (string Name, byte[] Data)[] records)
    {
        var zip = new ZipBuilder().Add("archive/data.pkl", pickle).Add("archive/version", "3\n"u8.ToArray());
        foreach (var (name, data) in records)
        {
            zip.Add(name, data);
        }

        return zip.ToArray();
    }

    // {((((...(0,)...),): 1} with the key 50,000 tuples deep: 364 bytes in the report.
    private static byte[] DeepTupleKey()
    {
        var pickle = new List<byte> { 0x80, 2, (byte)'}', (byte)'K', 0 };
        pickle.AddRange(Enumerable.Repeat((byte)0x85, 50_000));
        pickle.AddRange([(byte)'K', 1, (byte)'s', (byte)'.']);
        return [.. pickle];
    }

    // A list of the previous list twice, forty times: 2^40 paths through 41 objects.
    private static byte[] BillionLaughs()
    {
        var pickle = new List<byte> { 0x80, 2, (byte)']', (byte)'q', 0 };
        for (byte i = 1; i <= 40; i++)
        {
            pickle.AddRange([(byte)'0', (byte)']', (byte)'(', (byte)'h', (byte)(i - 1), (byte)'h', (byte)(i - 1), (byte)'e', (byte)'q', i]);
        }

        pickle.Add((byte)'.');
        return [.. pickle];
    }

    // {"module_state_dict": {}, "h": h} with h = [h, h], which a real torch.save writes for such a list.
    private static byte[] SelfListCheckpoint() =>
        Checkpoint([(byte)']', (byte)'q', 9, (byte)'(', (byte)'h', 9, (byte)'h', 9, (byte)'e']);

    private static byte[] Checkpoint(byte[] value) =>
        [0x80, 2, (byte)'}', (byte)'(', .. Short("module_state_dict"), (byte)'}', .. Short("h"), .. value, (byte)'u', (byte)'.'];

    private static byte[] Long4(byte[] littleEndian) => [0x8b, .. Le32(littleEndian.Length), .. littleEndian];

    // {"\x1b[2J\x07evil": tensor}: a terminal escape in a name that inspect prints.
    private static byte[] EscapeKeyStateDict() =>
        [0x80, 2, (byte)'}', .. Short("\u001b[2J\u0007evil"), .. TensorWithOffset([(byte)'K', 0])[2..^1], (byte)'s', (byte)'.'];

    private static byte[] TensorWithOffset(byte[] offset) =>
    [
        0x80, 2, .. Global("torch._utils", "_rebuild_tensor_v2"), (byte)'(',
        (byte)'(', .. Short("storage"), .. Global("torch", "FloatStorage"), .. Short("0"), .. Short("cuda:0"), (byte)'K', 2, (byte)'t', (byte)'Q',
        .. offset, (byte)'K', 1, 0x85, (byte)'K', 1, 0x85, 0x89, .. Global("collections", "OrderedDict"), (byte)')', (byte)'R', (byte)'t', (byte)'R', (byte)'.',
    ];

    private static byte[] NestedFrames() =>
        [0x80, 4, 0x95, .. Le64(12), 0x95, .. Le64(2), (byte)'N', (byte)'.', (byte)'.'];

    private static byte[] CorruptDeflatedPickle()
    {
        var zip = new ZipBuilder().Add("archive/data.pkl", [0x80, 2, (byte)'}', (byte)'.'], deflate: true).ToArray();
        zip[30 + "archive/data.pkl".Length] = 0xFF; // the first deflate block header: a reserved block type
        return zip;
    }

    // One 1 KiB record named a thousand times in the central directory, each a storage of the pickle.
    private static byte[] AliasedRecords(int names, int size)
    {
        var pickle = new List<byte> { 0x80, 2, (byte)']', (byte)'(' };
        for (var i = 0; i < names; i++)
        {
            pickle.AddRange([.. Global("torch._utils", "_rebuild_tensor_v2"), (byte)'(', (byte)'(', .. Short("storage"), .. Global("torch", "ByteStorage"), .. Short(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), .. Short("cuda:0"), (byte)'M', .. Le16(size), (byte)'t', (byte)'Q',
                (byte)'K', 0, (byte)'M', .. Le16(size), 0x85, (byte)'K', 1, 0x85, 0x89, .. Global("collections", "OrderedDict"), (byte)')', (byte)'R', (byte)'t', (byte)'R']);
        }

        pickle.AddRange([(byte)'e', (byte)'.']);
        var zip = new ZipBuilder().Add("archive/data.pkl", [.. pickle]).Add("archive/data/0", new byte[size]);
        for (var i = 1; i < names; i++)
        {
            zip.Alias($"archive/data/{i}", "archive/data/0");
        }

        return zip.ToArray();
    }

    // {((t7 * 256) ...): 1} where each level is a tuple of 256 references to the level below.
    private static byte[] SharedTupleKey()
    {
        var pickle = new List<byte> { 0x80, 2, (byte)'}', (byte)'K', 0, 0x85, (byte)'q', 0, (byte)'0' };
        for (byte level = 1; level <= 8; level++)
        {
            pickle.Add((byte)'(');
            for (var i = 0; i < 256; i++)
            {
                pickle.AddRange([(byte)'h', (byte)(level - 1)]);
            }

            pickle.AddRange([(byte)'t', (byte)'q', level, (byte)'0']);
        }

        pickle.AddRange([(byte)'h', 8, (byte)'K', 1, (byte)'s', (byte)'.']);
        return [.. pickle];
    }

    // {"k0": t, "k0": t, ...}: one tensor read from the memo a million times, two bytes each.
    private static byte[] ManyReferencesToOneTensor(int references)
    {
        var tensor = TensorWithOffset([(byte)'K', 0]);
        var pickle = new List<byte> { 0x80, 2, (byte)'}' };
        pickle.AddRange(tensor[2..^1]);
        pickle.AddRange([(byte)'q', 1, (byte)'0', .. Short("k"), (byte)'q', 2, (byte)'0']);
        for (var i = 0; i < references; i += 100_000)
        {
            pickle.Add((byte)'(');
            for (var j = 0; j < Math.Min(100_000, references - i); j++)
            {
                pickle.AddRange([(byte)'h', 2, (byte)'h', 1]);
            }

            pickle.Add((byte)'u');
        }

        pickle.Add((byte)'.');
        return [.. pickle];
    }

    // A list of n empty dicts in APPENDS batches of 1,000, as pickle writes lists: one byte a dict.
    private static byte[] ManyEmptyDicts(int n)
    {
        var pickle = new List<byte> { 0x80, 2, (byte)']' };
        for (var i = 0; i < n; i += 1000)
        {
            pickle.Add((byte)'(');
            pickle.AddRange(Enumerable.Repeat((byte)'}', Math.Min(1000, n - i)));
            pickle.Add((byte)'e');
        }

        pickle.Add((byte)'.');
        return [.. pickle];
    }

    // A zip64 end record that claims 2^64 - 1 records.
    private static byte[] Zip64CountMax()
    {
        var zip = Archive([0x80, 2, (byte)'}', (byte)'.']);
        var end = zip.AsSpan(zip.Length - 22);
        var directorySize = BinaryPrimitives.ReadUInt32LittleEndian(end[12..]);
        var directoryOffset = BinaryPrimitives.ReadUInt32LittleEndian(end[16..]);
        var zip64End = new byte[56];
        BinaryPrimitives.WriteUInt32LittleEndian(zip64End, 0x06064b50);
        BinaryPrimitives.WriteUInt64LittleEndian(zip64End.AsSpan(4), 44);
        BinaryPrimitives.WriteUInt16LittleEndian(zip64End.AsSpan(12), 45);
        BinaryPrimitives.WriteUInt16LittleEndian(zip64End.AsSpan(14), 45);
        BinaryPrimitives.WriteUInt64LittleEndian(zip64End.AsSpan(24), ulong.MaxValue);
        BinaryPrimitives.WriteUInt64LittleEndian(zip64End.AsSpan(32), ulong.MaxValue);
        BinaryPrimitives.WriteUInt64LittleEndian(zip64End.AsSpan(40), directorySize);
        BinaryPrimitives.WriteUInt64LittleEndian(zip64End.AsSpan(48), directoryOffset);
        var locator = new byte[20];
        BinaryPrimitives.WriteUInt32LittleEndian(locator, 0x07064b50);
        BinaryPrimitives.WriteUInt64LittleEndian(locator.AsSpan(8), (ulong)(zip.Length - 22));
        BinaryPrimitives.WriteUInt32LittleEndian(locator.AsSpan(16), 1);
        var newEnd = end.ToArray();
        BinaryPrimitives.WriteUInt16LittleEndian(newEnd.AsSpan(8), 0xFFFF);
        BinaryPrimitives.WriteUInt16LittleEndian(newEnd.AsSpan(10), 0xFFFF);
        BinaryPrimitives.WriteUInt32LittleEndian(newEnd.AsSpan(12), uint.MaxValue);
        BinaryPrimitives.WriteUInt32LittleEndian(newEnd.AsSpan(16), uint.MaxValue);
        return [.. zip.AsSpan(0, zip.Length - 22), .. zip64End, .. locator, .. newEnd];
    }

    private static byte[] Zip64SizeMax() =>
        new ZipBuilder().Add("archive/data.pkl", [0x80, 2, (byte)'}', (byte)'.'], zip64DeclaredSize: ulong.MaxValue).ToArray();

    private static byte[] Short(string text)
    {
        var utf8 = Encoding.UTF8.GetBytes(text);
        return utf8.Length < 256 ? [0x8c, (byte)utf8.Length, .. utf8] : [(byte)'X', .. Le32(utf8.Length), .. utf8];
    }

    private static byte[] Global(string module, string name) => [(byte)'c', .. Encoding.ASCII.GetBytes($"{module}\n{name}\n")];

    private static byte[] Le16(int value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, (ushort)value);
        return bytes;
    }

    private static byte[] Le32(int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, value);
        return bytes;
    }

    private static byte[] Le64(long value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        return bytes;
    }
}
