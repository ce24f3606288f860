using TorchFerry.Format.Archive;
using TorchFerry.Format.Conversion;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Archive;

/// <summary>What the operator asks of an archive before converting it or adopting a variant it finds: where its storages are, and whether two archives hold the same records.</summary>
[Collection(TorchCollection.Name)]
public sealed class TorchArchiveQueryTests(TorchFixtures fixtures) : IDisposable
{
    private readonly TemporaryDirectory folder = new();

    [Fact]
    public async Task StorageLocations_AreDistinctAndInOrder_AsTorchHandsThemToMapLocation()
    {
        var path = fixtures.GpuFile("multi_device", location: "cuda:1,cuda:0");
        using var source = FileSource.Open(path);
        var archive = await TorchArchive.OpenAsync(source);

        Assert.Equal(fixtures.Torch.Locations(path).Distinct().Order(StringComparer.Ordinal), archive.StorageLocations);
        Assert.Equal(["cuda:0", "cuda:1"], archive.StorageLocations);
        Assert.False(archive.IsEntirelyOn("cuda:0"));
        Assert.False(archive.IsEntirelyOn("cpu"));
    }

    [Fact]
    public async Task IsEntirelyOn_BeforeAndAfterAConversion()
    {
        var path = fixtures.GpuFile("checkpoint_dict");
        var converted = await ToCpuAsync(path, "cpu.pt");
        using var before = FileSource.Open(path);
        using var after = FileSource.Open(converted);

        var (gpu, cpu) = (await TorchArchive.OpenAsync(before), await TorchArchive.OpenAsync(after));

        Assert.Equal((true, false), (gpu.IsEntirelyOn("cuda:0"), gpu.IsEntirelyOn("cpu")));
        Assert.Equal((false, true), (cpu.IsEntirelyOn("cuda:0"), cpu.IsEntirelyOn("cpu")));
    }

    [Fact]
    public async Task HasSameRecordsAs_ItsOwnVariantAndTheSameTensorsUnderAnotherRoot_ButNotAnotherFile()
    {
        var path = fixtures.GpuFile("checkpoint_dict");
        var variant = await ToCpuAsync(path, "variant.pt");
        using var a = FileSource.Open(path);
        using var b = FileSource.Open(variant);
        using var c = FileSource.Open(fixtures.GpuFile("module"));
        using var d = FileSource.Open(fixtures.GpuFile("archive_root"));
        var (source, converted, module, rooted) = (await TorchArchive.OpenAsync(a), await TorchArchive.OpenAsync(b), await TorchArchive.OpenAsync(c), await TorchArchive.OpenAsync(d));

        Assert.True(converted.HasSameRecordsAs(source));
        Assert.True(source.HasSameRecordsAs(converted));
        Assert.False(module.HasSameRecordsAs(source));

        // The same object saved under another root folder holds the same records: names are compared below the root.
        Assert.NotEqual(source.Root, rooted.Root);
        Assert.True(rooted.HasSameRecordsAs(source)); // archive_root saves the same seeded checkpoint
    }

    public void Dispose() => folder.Dispose();

    private async Task<string> ToCpuAsync(string path, string name)
    {
        var converted = folder.File(name);
        await LocalConversion.ConvertAsync(path, converted, DeviceMap.Create("cpu"));
        return converted;
    }
}
