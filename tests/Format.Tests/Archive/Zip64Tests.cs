using System.IO.Hashing;
using System.Text;
using TorchFerry.Format.Archive;
using TorchFerry.Format.Conversion;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Archive;

/// <summary>
/// Records over 4 GiB and offsets past 4 GiB need zip64 fields. These archives are sparse files, so
/// they take little disk; Python's zipfile checks what we write.
/// </summary>
public sealed class Zip64Tests : IDisposable
{
    private const long BigRecord = (4L << 30) + (1L << 20); // just past 4 GiB
    private readonly TemporaryDirectory folder = new();

    [Fact]
    public async Task Relocate_RecordOver4GiB_WritesZip64ThatTorchStyleReadersAccept()
    {
        var source = await WriteSparseArchiveAsync();
        var sourceView = PythonZip.List(source);
        Assert.Equal(BigRecord, sourceView["records"]![1]!["size"]!.GetValue<long>());

        using var input = FileSource.Open(source);
        var archive = await TorchArchive.OpenAsync(input);
        var big = archive.Entries[1];
        Assert.Equal((BigRecord, 0L), (big.UncompressedSize, big.DataOffset % 64));
        Assert.True(archive.Entries[2].LocalHeaderOffset > uint.MaxValue);

        var output = folder.File("big-cpu.pt");
        await using (var stream = new SparseFileStream(output))
        {
            var report = await ArchiveRelocator.RelocateAsync(archive, DeviceMap.Create("cpu"), stream);
            Assert.Equal(1, report.StoragesRelocated);
        }

        var view = PythonZip.List(output);
        var records = view["records"]!.AsArray();
        Assert.Equal(["big/data.pkl", "big/data/0", "big/version"], records.Select(r => r!["name"]!.GetValue<string>()));
        Assert.Equal(BigRecord, records[1]!["size"]!.GetValue<long>());
        Assert.True(records[2]!["offset"]!.GetValue<long>() > uint.MaxValue);
        Assert.Equal("330a", view["small"]!["big/version"]!.GetValue<string>());
        var pickle = Convert.FromHexString(view["small"]!["big/data.pkl"]!.GetValue<string>());
        Assert.Contains("cpu", Encoding.Latin1.GetString(pickle), StringComparison.Ordinal);
        Assert.DoesNotContain("cuda", Encoding.Latin1.GetString(pickle), StringComparison.Ordinal);

        using var reopened = FileSource.Open(output);
        var relocated = await TorchArchive.OpenAsync(reopened);
        Assert.All(relocated.Entries, e => Assert.Equal(0, e.DataOffset % 64));
        Assert.Equal("cpu", Assert.Single(relocated.Pickle.Storages.Values).Location);
    }

    public void Dispose() => folder.Dispose();

    private async Task<string> WriteSparseArchiveAsync()
    {
        var pickle = new PickleBuilder().Proto(2).Tensor1d("ByteStorage", "0", "cuda:0", BigRecord).Stop().ToArray();
        var zeros = new byte[1 << 20];
        var crc = new Crc32();
        for (long done = 0; done < BigRecord; done += zeros.Length)
        {
            crc.Append(zeros);
        }

        var records = new (string Name, byte[]? Data, long Size, uint Crc)[]
        {
            ("big/data.pkl", pickle, pickle.Length, Crc32.HashToUInt32(pickle)),
            ("big/data/0", null, BigRecord, crc.GetCurrentHashAsUInt32()),
            ("big/version", "3\n"u8.ToArray(), 2, Crc32.HashToUInt32("3\n"u8)),
        };
        var path = folder.File("big.pt");
        await using var stream = new SparseFileStream(path);
        var written = new List<WrittenRecord>();
        long offset = 0;
        foreach (var (name, data, size, checksum) in records)
        {
            var zip64 = TorchZipLayout.NeedsZip64(size, offset);
            var header = TorchZipLayout.LocalHeader(name, offset, size);
            stream.Write(header);
            if (data is null)
            {
                for (long done = 0; done < size; done += zeros.Length)
                {
                    stream.Write(zeros);
                }
            }
            else
            {
                stream.Write(data);
            }

            var descriptor = TorchZipLayout.DataDescriptor(checksum, size, zip64);
            stream.Write(descriptor);
            written.Add(new WrittenRecord(name, offset, size, checksum));
            offset += header.Length + size + descriptor.Length;
        }

        stream.Write(TorchZipLayout.Directory(written, offset));
        return path;
    }
}
