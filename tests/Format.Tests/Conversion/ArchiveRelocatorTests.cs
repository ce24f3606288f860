using System.Security.Cryptography;
using TorchFerry.Format.Archive;
using TorchFerry.Format.Conversion;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Conversion;

[Collection(TorchCollection.Name)]
public sealed class ArchiveRelocatorTests(TorchFixtures fixtures)
{
    private const string CudaError = "Attempting to deserialize object on a CUDA device";

    public static TheoryData<string, bool> Cases => new()
    {
        { "tensor", false },
        { "module", false },
        { "checkpoint_dict", false },
        { "checkpoint_namedtuple", false },
        { "checkpoint_dataclass", false },
        { "tied_weights", false },
        { "views", false },
        { "noncontiguous", false },
        { "scalars_and_empty", false },
        { "dtypes", false },
        { "deflated", false },
        { "archive_root", false },
        { "protocol3", false },
        { "protocol4", false },
        { "protocol5", false },
        { "module", true },
        { "checkpoint_dict", true },
        { "tied_weights", true },
        { "protocol4", true },
        { "shared_location_first", true },
        { "shared_location_last", true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Convert_CudaFixture_LoadsOnCpuWithoutMapLocationAndEqualsOriginal(string fixtureCase, bool constantTagger)
    {
        var source = fixtures.GpuFile(fixtureCase, constantTagger: constantTagger);
        Assert.Contains(CudaError, fixtures.Torch.LoadError(source), StringComparison.Ordinal);
        var sourceHash = Hash(source);
        var destination = fixtures.Directory.File($"{fixtureCase}-{constantTagger}-cpu.pt");

        var report = await LocalConversion.ConvertAsync(source, destination, DeviceMap.Create("cpu"), overwrite: true);

        Assert.Equal(sourceHash, Hash(source));
        Assert.Null(fixtures.Torch.LoadError(destination));
        var (tensors, problems) = fixtures.Torch.Compare(fixtureCase, destination);
        Assert.Empty(problems);
        Assert.True(tensors > 0, "the fixture holds tensors to compare");
        Assert.Equal(report.Storages, report.StoragesRelocated);
        Assert.Equal(new Dictionary<string, int> { ["cpu"] = report.Storages }, report.LocationsAfter);
        await ArchiveAssert.IsTorchLayoutAsync(destination);

        // The rewrite adds nothing torch's weights-only loader refuses (no POP in padding or memo fixes).
        var (before, after) = (await WeightsOnlyAsync(source), await WeightsOnlyAsync(destination));
        Assert.Equal(before, after);
    }

    private static async Task<string[]> WeightsOnlyAsync(string path)
    {
        var description = await LocalInspection.DescribeAsync(path);
        return [.. description.WeightsOnly.Select(v => $"{v.Torch}: {v.Loads} {string.Join(", ", v.BlockedBy)}")];
    }

    [Theory]
    [InlineData("checkpoint_dict")]
    [InlineData("deflated")]
    [InlineData("dtypes")]
    public async Task Convert_CopiesEveryStorageRecordByteForByte(string fixtureCase)
    {
        var source = fixtures.GpuFile(fixtureCase);
        var destination = fixtures.Directory.File($"{fixtureCase}-bytes.pt");

        await LocalConversion.ConvertAsync(source, destination, DeviceMap.Create("cpu"), overwrite: true);

        var before = await ArchiveAssert.RecordsAsync(source);
        var after = await ArchiveAssert.RecordsAsync(destination);
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (name, bytes) in before)
        {
            Assert.True(bytes.AsSpan().SequenceEqual(after[name]), $"record {name} changed");
        }
    }

    [Fact]
    public async Task Convert_KernelCopyAndStreamCopy_WriteIdenticalFiles()
    {
        var source = fixtures.GpuFile("checkpoint_dict");
        var kernel = fixtures.Directory.File("kernel-copy.pt");
        var streamed = fixtures.Directory.File("stream-copy.pt");

        await LocalConversion.ConvertAsync(source, kernel, DeviceMap.Create("cpu"), overwrite: true, options: new RelocationOptions { KernelCopyThreshold = 0 });
        await LocalConversion.ConvertAsync(source, streamed, DeviceMap.Create("cpu"), overwrite: true, options: new RelocationOptions { KernelCopyThreshold = long.MaxValue });

        Assert.Equal(Hash(streamed), Hash(kernel));
        Assert.Empty(fixtures.Torch.Compare("checkpoint_dict", kernel).Problems);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(long.MaxValue)]
    public async Task Convert_StoredRecordWithBadCrc_FailsUnlessVerificationIsOff(long kernelCopyThreshold)
    {
        using var folder = new TemporaryDirectory();
        var corrupt = folder.File("corrupt.pt");
        File.Copy(fixtures.GpuFile("checkpoint_dict"), corrupt);
        long dataOffset;
        using (var input = FileSource.Open(corrupt))
        {
            var archive = await TorchArchive.OpenAsync(input);
            dataOffset = archive.Entries.First(e => e.Name.EndsWith("/data/0", StringComparison.Ordinal)).DataOffset;
        }

        await using (var file = new FileStream(corrupt, FileMode.Open, FileAccess.ReadWrite))
        {
            file.Position = dataOffset;
            var b = file.ReadByte();
            file.Position = dataOffset;
            file.WriteByte((byte)(b ^ 0xFF));
        }

        var destination = folder.File("out.pt");
        var error = await Assert.ThrowsAsync<ArtifactFormatException>(() => LocalConversion.ConvertAsync(
            corrupt, destination, DeviceMap.Create("cpu"), options: new RelocationOptions { KernelCopyThreshold = kernelCopyThreshold }));

        Assert.Contains("data/0' fails its CRC check", error.Message, StringComparison.Ordinal);
        Assert.Equal(["corrupt.pt"], Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName));

        await LocalConversion.ConvertAsync(
            corrupt, destination, DeviceMap.Create("cpu"), options: new RelocationOptions { KernelCopyThreshold = kernelCopyThreshold, VerifyChecksums = false });
        Assert.Null(fixtures.Torch.LoadError(destination));
    }

    [Fact]
    public async Task Convert_ArchiveRootedAtArchive_KeepsItsRootFolder()
    {
        var source = fixtures.GpuFile("archive_root");
        var destination = fixtures.Directory.File("renamed-output.pt");

        await LocalConversion.ConvertAsync(source, destination, DeviceMap.Create("cpu"), overwrite: true);

        var archive = await ArchiveAssert.IsTorchLayoutAsync(destination);
        Assert.Equal("archive", archive.Root);
    }

    [Fact]
    public async Task Convert_ToTheDeviceItAlreadyHas_ReportsItAndWritesAValidCopy()
    {
        var cpu = fixtures.Directory.File("already-cpu.pt");
        await LocalConversion.ConvertAsync(fixtures.GpuFile("checkpoint_dict"), cpu, DeviceMap.Create("cpu"), overwrite: true);
        var again = fixtures.Directory.File("already-cpu-again.pt");

        var report = await LocalConversion.ConvertAsync(cpu, again, DeviceMap.Create("cpu"), overwrite: true);

        Assert.True(report.AlreadyOnTarget);
        Assert.Equal(0, report.StoragesRelocated);
        Assert.Empty(fixtures.Torch.Compare("checkpoint_dict", again).Problems);
    }

    [Fact]
    public async Task Convert_WithMap_MovesOnlyTheMappedLocation()
    {
        var source = fixtures.GpuFile("multi_device", location: "cuda:0,cuda:1");
        var destination = fixtures.Directory.File("multi-mapped.pt");

        var report = await LocalConversion.ConvertAsync(source, destination, DeviceMap.Create(null, new Dictionary<string, string> { ["cuda:1"] = "cuda:0" }), overwrite: true);

        Assert.Equal(report.LocationsBefore["cuda:1"], report.StoragesRelocated);
        Assert.Equal(new Dictionary<string, int> { ["cuda:0"] = report.Storages }, report.LocationsAfter);

        // Judged by PyTorch's own unpickler, not by our inspector.
        Assert.Equal(Enumerable.Repeat("cuda:0", report.Storages), fixtures.Torch.Locations(destination));
        Assert.Contains(CudaError, fixtures.Torch.LoadError(destination), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Convert_WithMapAndDevice_MapsListedLocationsAndSendsTheRestToTheDevice()
    {
        var source = fixtures.GpuFile("multi_device", location: "cuda:0,cuda:1");
        var destination = fixtures.Directory.File("multi-mixed.pt");

        await LocalConversion.ConvertAsync(source, destination, DeviceMap.Create("cpu", new Dictionary<string, string> { ["cuda:1"] = "cuda:2" }), overwrite: true);

        var before = fixtures.Torch.Locations(source);
        var after = fixtures.Torch.Locations(destination);

        Assert.Equal(before.Count(l => l == "cuda:1"), after.Count(l => l == "cuda:2"));
        Assert.Equal(before.Count(l => l != "cuda:1"), after.Count(l => l == "cpu"));
        Assert.Equal(["cpu", "cuda:2"], after.Distinct().Order());
    }

    [Fact]
    public async Task Convert_ToCudaN_RecordsThatDeviceOnEveryStorage()
    {
        var cpu = fixtures.Directory.File("to-cuda-source.pt");
        await LocalConversion.ConvertAsync(fixtures.GpuFile("module"), cpu, DeviceMap.Create("cpu"), overwrite: true);
        var destination = fixtures.Directory.File("to-cuda3.pt");

        await LocalConversion.ConvertAsync(cpu, destination, DeviceMap.Create("cuda:3"), overwrite: true);

        Assert.All(fixtures.Torch.Locations(destination), l => Assert.Equal("cuda:3", l));
        Assert.NotEmpty(fixtures.Torch.Locations(destination));
        Assert.Contains(CudaError, fixtures.Torch.LoadError(destination), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Convert_ExistingDestinationWithoutOverwrite_RefusesAndKeepsIt()
    {
        var destination = fixtures.Directory.File("keep-me.pt");
        await File.WriteAllTextAsync(destination, "precious");

        var error = await Assert.ThrowsAsync<IOException>(() =>
            LocalConversion.ConvertAsync(fixtures.GpuFile("tensor"), destination, DeviceMap.Create("cpu")));

        Assert.Contains("already exists", error.Message, StringComparison.Ordinal);
        Assert.Equal("precious", await File.ReadAllTextAsync(destination));
    }

    [Fact]
    public async Task Convert_OntoItsOwnSource_IsRefused()
    {
        var source = fixtures.Directory.File("self.pt");
        File.Copy(fixtures.GpuFile("tensor"), source, overwrite: true);
        var hash = Hash(source);

        await Assert.ThrowsAsync<IOException>(() => LocalConversion.ConvertAsync(source, source, DeviceMap.Create("cpu"), overwrite: true));

        Assert.Equal(hash, Hash(source));
    }

    [Fact]
    public async Task Convert_Cancelled_LeavesNoDestinationOrTemporaryFile()
    {
        using var folder = new TemporaryDirectory();
        var destination = folder.File("cancelled.pt");
        using var cancellation = new CancellationTokenSource();
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            LocalConversion.ConvertAsync(fixtures.GpuFile("checkpoint_dict"), destination, DeviceMap.Create("cpu"), cancellationToken: cancellation.Token));

        Assert.Empty(Directory.GetFileSystemEntries(folder.Path));
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
