using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;

namespace TorchFerry.TestSupport;

/// <summary>
/// Writes small zip archives record by record, including ones no honest writer makes (sizes that
/// lie), to test how readers cope.
/// </summary>
public sealed class ZipBuilder
{
    private readonly List<(string Name, byte[] Data, bool Deflate, long? DeclaredSize, ulong? Zip64Size, ushort? Method)> records = [];
    private readonly List<(string Name, string Target)> aliases = [];

    public ZipBuilder Add(string name, byte[] data, bool deflate = false, long? declaredSize = null, ulong? zip64DeclaredSize = null)
    {
        records.Add((name, data, deflate, declaredSize, zip64DeclaredSize, null));
        return this;
    }

    /// <summary>A record whose bytes are written as given under any compression method (8 with data that is not deflate, 12 for bzip2).</summary>
    public ZipBuilder AddRaw(string name, byte[] data, ushort method)
    {
        records.Add((name, data, false, null, null, method));
        return this;
    }

    /// <summary>A second central directory entry for an existing record's bytes (no honest writer makes one).</summary>
    public ZipBuilder Alias(string name, string target)
    {
        aliases.Add((name, target));
        return this;
    }

    public byte[] ToArray()
    {
        using var output = new MemoryStream();
        using var directory = new MemoryStream();
        var written = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (name, data, deflate, declaredSize, zip64Size, rawMethod) in records)
        {
            var method = rawMethod ?? (deflate ? (ushort)8 : (ushort)0);
            var payload = deflate ? Deflate(data) : data;
            var nameBytes = Encoding.UTF8.GetBytes(name);
            var crc = Crc32.HashToUInt32(data);
            var size = (uint)(declaredSize ?? data.Length);
            var offset = (uint)output.Length;
            var local = new byte[30];
            BinaryPrimitives.WriteUInt32LittleEndian(local, 0x04034b50);
            BinaryPrimitives.WriteUInt16LittleEndian(local.AsSpan(4), 20);
            BinaryPrimitives.WriteUInt16LittleEndian(local.AsSpan(8), method);
            BinaryPrimitives.WriteUInt32LittleEndian(local.AsSpan(14), crc);
            BinaryPrimitives.WriteUInt32LittleEndian(local.AsSpan(18), (uint)payload.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(local.AsSpan(22), size);
            BinaryPrimitives.WriteUInt16LittleEndian(local.AsSpan(26), (ushort)nameBytes.Length);
            output.Write(local);
            output.Write(nameBytes);
            output.Write(payload);

            var central = new byte[46];
            BinaryPrimitives.WriteUInt32LittleEndian(central, 0x02014b50);
            BinaryPrimitives.WriteUInt16LittleEndian(central.AsSpan(4), 20);
            BinaryPrimitives.WriteUInt16LittleEndian(central.AsSpan(6), 20);
            BinaryPrimitives.WriteUInt16LittleEndian(central.AsSpan(10), method);
            BinaryPrimitives.WriteUInt32LittleEndian(central.AsSpan(16), crc);
            BinaryPrimitives.WriteUInt32LittleEndian(central.AsSpan(20), zip64Size is null ? (uint)payload.Length : uint.MaxValue);
            BinaryPrimitives.WriteUInt32LittleEndian(central.AsSpan(24), zip64Size is null ? size : uint.MaxValue);
            BinaryPrimitives.WriteUInt16LittleEndian(central.AsSpan(28), (ushort)nameBytes.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(central.AsSpan(30), zip64Size is null ? (ushort)0 : (ushort)20);
            BinaryPrimitives.WriteUInt32LittleEndian(central.AsSpan(42), offset);
            directory.Write(central);
            directory.Write(nameBytes);
            if (zip64Size is { } huge)
            {
                var extra = new byte[20];
                BinaryPrimitives.WriteUInt16LittleEndian(extra, 0x0001);
                BinaryPrimitives.WriteUInt16LittleEndian(extra.AsSpan(2), 16);
                BinaryPrimitives.WriteUInt64LittleEndian(extra.AsSpan(4), huge);
                BinaryPrimitives.WriteUInt64LittleEndian(extra.AsSpan(12), (ulong)payload.Length); // the bytes written: only the content's size lies
                directory.Write(extra);
            }

            written[name] = central;
        }

        foreach (var (name, target) in aliases)
        {
            var central = (byte[])written[target].Clone();
            var nameBytes = Encoding.UTF8.GetBytes(name);
            BinaryPrimitives.WriteUInt16LittleEndian(central.AsSpan(28), (ushort)nameBytes.Length);
            directory.Write(central);
            directory.Write(nameBytes);
        }

        var directoryOffset = (uint)output.Length;
        directory.Position = 0;
        directory.CopyTo(output);
        var end = new byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(end, 0x06054b50);
        BinaryPrimitives.WriteUInt16LittleEndian(end.AsSpan(8), (ushort)(records.Count + aliases.Count));
        BinaryPrimitives.WriteUInt16LittleEndian(end.AsSpan(10), (ushort)(records.Count + aliases.Count));
        BinaryPrimitives.WriteUInt32LittleEndian(end.AsSpan(12), (uint)directory.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(end.AsSpan(16), directoryOffset);
        output.Write(end);
        return output.ToArray();
    }

    private static byte[] Deflate(byte[] data)
    {
        using var buffer = new MemoryStream();
        using (var deflate = new DeflateStream(buffer, CompressionLevel.Optimal, leaveOpen: true))
        {
            deflate.Write(data);
        }

        return buffer.ToArray();
    }
}
