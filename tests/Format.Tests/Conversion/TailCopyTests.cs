using TorchFerry.Format.Archive;
using TorchFerry.Format.Conversion;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Conversion;

/// <summary>
/// An archive in torch's layout has everything after data.pkl copied as one range, which only works
/// if the pickle is padded so that range keeps its alignment; every padding from 0 to 63 bytes
/// (and the impossible 1 and 3 bytes, done as 65 and 67) must give a valid archive, which torch's
/// weights-only loader (the default from torch 2.6) still takes.
/// </summary>
[Collection(TorchCollection.Name)]
public sealed class TailCopyTests(TorchFixtures fixtures) : IDisposable
{
    private readonly TemporaryDirectory folder = new();

    [Fact]
    public async Task Relocate_EveryPickleLengthModulo64_KeepsRecordsAlignedAndIntact()
    {
        var storage = Enumerable.Range(0, 300).Select(i => (byte)i).ToArray();
        for (var extra = 0; extra < 64; extra++)
        {
            // A hyperparameter string of growing length shifts the pickle's size one byte at a time.
            var pickle = new PickleBuilder().Proto(2).Mark().Str(new string('h', extra)).Tensor1d("ByteStorage", "0", "cuda:0", storage.Length).Tuple().Stop().ToArray();
            var source = folder.File($"source-{extra}.pt");
            TorchLayoutWriter.Write(source, [("m/data.pkl", pickle), ("m/data/0", storage), ("m/version", "3\n"u8.ToArray())]);
            var destination = folder.File($"dest-{extra}.pt");

            await LocalConversion.ConvertAsync(source, destination, DeviceMap.Create("cpu"), options: new RelocationOptions { Durable = false });

            using var output = FileSource.Open(destination);
            var archive = await TorchArchive.OpenAsync(output);
            Assert.All(archive.Entries, e => Assert.Equal(0, e.DataOffset % 64));
            Assert.Equal("cpu", Assert.Single(archive.Pickle.Storages.Values).Location);
            var record = await TorchArchive.ReadRecordAsync(output, archive.Entries[1], CancellationToken.None);
            Assert.Equal(storage, record);
            Assert.Equal("3\n"u8.ToArray(), await TorchArchive.ReadRecordAsync(output, archive.Entries[2], CancellationToken.None));
            Assert.Null(fixtures.Torch.LoadError(destination, weightsOnly: true));
        }
    }

    [Fact]
    public async Task Relocate_TorchLayoutSource_CopiesTheTailByteForByte()
    {
        var pickle = new PickleBuilder().Proto(2).Tensor1d("FloatStorage", "0", "cuda:0", 1000).Stop().ToArray();
        var source = folder.File("tail-source.pt");
        TorchLayoutWriter.Write(source, [("m/data.pkl", pickle), ("m/data/0", new byte[4000]), ("m/version", "3\n"u8.ToArray())]);
        var destination = folder.File("tail-dest.pt");

        await LocalConversion.ConvertAsync(source, destination, DeviceMap.Create("cpu"), options: new RelocationOptions { Durable = false });

        var (sourceTail, destinationTail) = (await TailAsync(source), await TailAsync(destination));
        Assert.Equal(sourceTail, destinationTail);
    }

    public void Dispose() => folder.Dispose();

    private static async Task<byte[]> TailAsync(string path)
    {
        using var input = FileSource.Open(path);
        var archive = await TorchArchive.OpenAsync(input);
        var start = archive.Entries[1].LocalHeaderOffset;
        var bytes = new byte[archive.DirectoryOffset - start];
        await input.ReadExactlyAsync(start, bytes, CancellationToken.None);
        return bytes;
    }
}
