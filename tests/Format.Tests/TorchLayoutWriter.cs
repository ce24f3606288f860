using System.IO.Hashing;
using TorchFerry.Format.Archive;

namespace TorchFerry.Format.Tests;

/// <summary>Writes archives in torch's own layout (stored, 64-byte aligned, data descriptors) from given records.</summary>
internal static class TorchLayoutWriter
{
    public static void Write(string path, IReadOnlyList<(string Name, byte[] Data)> records)
    {
        using var output = File.Create(path);
        var written = new List<WrittenRecord>();
        long offset = 0;
        foreach (var (name, data) in records)
        {
            var header = TorchZipLayout.LocalHeader(name, offset, data.Length);
            var crc = Crc32.HashToUInt32(data);
            var descriptor = TorchZipLayout.DataDescriptor(crc, data.Length, zip64: false);
            output.Write(header);
            output.Write(data);
            output.Write(descriptor);
            written.Add(new WrittenRecord(name, offset, data.Length, crc));
            offset += header.Length + data.Length + descriptor.Length;
        }

        output.Write(TorchZipLayout.Directory(written, offset));
    }
}
