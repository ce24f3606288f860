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
    private readonly List<(string Name, byte[] Data, bool Deflate, long? DeclaredSize)> records = [];

    public ZipBuilder Add(string name, byte[] data, bool deflate = false, long? declaredSize = null)
    {
        records.Add((name, data, deflate, declaredSize));
        return this;
    }

    public byte[] ToArray()
    {
        using var output = new MemoryStream();
        using var directory = new MemoryStream();
        foreach (var (name, data, deflate, declaredSize) in records)
        {
            var payload = deflate ? Deflate(data) : data;
            var nameBytes = Encoding.UTF8.GetBytes(name);
            var crc = Crc32.HashToUInt32(data);
            var size = (uint)(declaredSize ?? data.Length);
            var offset = (uint)output.Length;
            var local = new byte[30];
            BinaryPrimitives.WriteUInt32LittleEndian(local, 0x04034b50);
            BinaryPrimitives.WriteUInt16LittleEndian(local.AsSpan(4), 20);
            BinaryPrimitives.WriteUInt16LittleEndian(local.AsSpan(8), deflate ? (ushort)8 : (ushort)0);
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
            BinaryPrimitives.WriteUInt16LittleEndian(central.AsSpan(10), deflate ? (ushort)8 : (ushort)0);
            BinaryPrimitives.WriteUInt32LittleEndian(central.AsSpan(16), crc);
            BinaryPrimitives.WriteUInt32LittleEndian(central.AsSpan(20), (uint)payload.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(central.AsSpan(24), size);
            BinaryPrimitives.WriteUInt16LittleEndian(central.AsSpan(28), (ushort)nameBytes.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(central.AsSpan(42), offset);
            directory.Write(central);
            directory.Write(nameBytes);
        }

        var directoryOffset = (uint)output.Length;
        directory.Position = 0;
        directory.CopyTo(output);
        var end = new byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(end, 0x06054b50);
        BinaryPrimitives.WriteUInt16LittleEndian(end.AsSpan(8), (ushort)records.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(end.AsSpan(10), (ushort)records.Count);
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
