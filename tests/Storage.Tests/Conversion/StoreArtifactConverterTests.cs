using TorchFerry.Format.Archive;
using TorchFerry.Format.Conversion;
using TorchFerry.Storage.Conversion;
using TorchFerry.Storage.Tests.S3;
using TorchFerry.TestSupport;

namespace TorchFerry.Storage.Tests.Conversion;

[Collection(S3Collection.Name)]
public sealed class StoreArtifactConverterTests : IDisposable
{
    private const string Bucket = S3Server.Bucket;
    private readonly S3Fixture s3;
    private readonly TorchFixtures torch;
    private readonly ListLogSink log = new();
    private readonly TemporaryDirectory folder = new();

    public StoreArtifactConverterTests(S3Fixture s3, TorchFixtures torch)
    {
        this.s3 = s3;
        this.torch = torch;
        s3.ResetProxy();
    }

    [Fact]
    public async Task Convert_FileToS3_ThenS3ToS3_ThenS3ToFile_LoadsOnCpu()
    {
        using var stores = Stores(s3.Server.Endpoint);
        var converter = new StoreArtifactConverter(stores);
        var gpu = torch.GpuFile("checkpoint_dict");
        var onS3 = StorageUri.S3(Bucket, S3Fixture.UniqueKey("cpu.pt"));
        var gpuOnS3 = StorageUri.S3(Bucket, S3Fixture.UniqueKey("gpu.pt"));
        var back = StorageUri.Local(folder.File("back.pt"));

        await converter.ConvertAsync(StorageUri.Local(gpu), onS3, DeviceMap.Create("cpu"));
        await s3.PutFileAsync(gpuOnS3.Key, gpu);
        var s3ToS3 = StorageUri.S3(Bucket, S3Fixture.UniqueKey("cpu2.pt"));
        await converter.ConvertAsync(gpuOnS3, s3ToS3, DeviceMap.Create("cpu"));
        await converter.ConvertAsync(gpuOnS3, back, DeviceMap.Create("cpu"));

        foreach (var key in new[] { onS3.Key, s3ToS3.Key })
        {
            var local = folder.File(Guid.NewGuid().ToString("N") + ".pt");
            await s3.GetFileAsync(key, local);
            Assert.Empty(torch.Torch.Compare("checkpoint_dict", local).Problems);
        }

        Assert.Empty(torch.Torch.Compare("checkpoint_dict", back.Key).Problems);
    }

    [Fact]
    public async Task Inspect_S3Object_ReadsOnlyDirectoryAndPickle()
    {
        var uri = StorageUri.S3(Bucket, S3Fixture.UniqueKey("large.pt"));
        await s3.PutFileAsync(uri.Key, torch.GpuFile("large"));
        var ranges = new System.Collections.Concurrent.ConcurrentQueue<string>();
        s3.Proxy.BeforeForward = request =>
        {
            if (request.Method == "GET")
            {
                ranges.Enqueue(request.Headers.Range.ToString());
            }

            return Task.CompletedTask;
        };
        using var stores = Stores(s3.Proxy.Endpoint);

        var description = await new StoreArtifactConverter(stores).InspectAsync(uri);

        Assert.Contains(description.Tensors, t => t.Path == "module_state_dict.embedding" && t.Location == "cuda:0");
        var size = new FileInfo(torch.GpuFile("large")).Length;
        var read = ranges.Sum(r => Assert.IsType<long>(RangeLength(r, size)));
        // Today: the head, the tail with the end records and directory, the local headers checked
        // against it, and data.pkl: 8 ranged reads of a 20 MiB object, under 200 KiB in all.
        Assert.True(ranges.Count is > 0 and <= 8, $"{ranges.Count} reads: {string.Join(", ", ranges)}");
        Assert.True(read < 256 << 10, $"{read} of {size} bytes read: more than the directory, the headers and the pickle");
    }

    // The bytes a "bytes=a-b" or "bytes=-n" range asks for; a GET without a range would be the whole object.
    private static long RangeLength(string range, long size)
    {
        Assert.StartsWith("bytes=", range, StringComparison.Ordinal);
        var (first, last) = (range["bytes=".Length..].Split('-')[0], range["bytes=".Length..].Split('-')[1]);
        return first.Length == 0
            ? long.Parse(last, System.Globalization.CultureInfo.InvariantCulture)
            : Math.Min(size - 1, long.Parse(last, System.Globalization.CultureInfo.InvariantCulture)) - long.Parse(first, System.Globalization.CultureInfo.InvariantCulture) + 1;
    }

    [Fact]
    public async Task Convert_S3ToS3WhereServerSideCopyWorks_MovesOnlyHeadersAndThePickle()
    {
        s3.Proxy.EmulateUploadPartCopy = true;
        using var stores = Stores(s3.Proxy.Endpoint);
        var (source, destination) = await UploadLargeAsync();

        var report = await new StoreArtifactConverter(stores).ConvertAsync(source, destination, DeviceMap.Create("cpu"));

        Assert.True(s3.Proxy.CopiesServed >= 2, $"{s3.Proxy.CopiesServed} copies (probe and at least one part)");
        Assert.True(report.BytesCopiedByStore > 15 << 20, $"{report.BytesCopiedByStore} bytes copied by the store");
        Assert.True(report.BytesThroughProcess < (16 << 20) + report.Relocation.BytesWritten - report.BytesCopiedByStore, $"{report.BytesThroughProcess} bytes through the process");
        Assert.True(report.BytesThroughProcess < 16 << 20);
        Assert.Contains(log.Events, e => e.Message.Contains("verified", StringComparison.Ordinal));
        await AssertLoadsOnCpuAsync("large", destination);
    }

    [Fact]
    public async Task Convert_S3ToS3_CopyPartsGoTogether_InTheFewestPartsTheirSizeAllows()
    {
        s3.Proxy.EmulateUploadPartCopy = true;
        var (inFlight, most) = (0, 0);
        s3.Proxy.BeforeForward = async request =>
        {
            if (request.Headers.ContainsKey("x-amz-copy-source") && !request.Path.Value!.Contains("copy-probe", StringComparison.Ordinal))
            {
                var now = Interlocked.Increment(ref inFlight);
                InterlockedMax(ref most, now);
                await Task.Delay(300); // a store copying on its side
                Interlocked.Decrement(ref inFlight);
            }
        };
        using var stores = new ObjectStoreRouter(S3ObjectStoreTests.Options(s3.Proxy.Endpoint) with { CopyPartSize = TorchFerry.Storage.S3.S3StoreOptions.MinimumPartSize, CopyConcurrency = 3 }, log.Logger);
        var (source, destination) = await UploadLargeAsync();
        var served = s3.Proxy.CopiesServed;

        var report = await new StoreArtifactConverter(stores).ConvertAsync(source, destination, DeviceMap.Create("cpu"));

        // About 19 MiB copied after the 5 MiB part that carries the pickle: three parts of over 6 MiB
        // (none may be under 5 MiB), all at once; the store's probe is the one more copy served.
        Assert.Equal(3, s3.Proxy.CopiesServed - served - 1);
        Assert.Equal(3, most);
        Assert.True(report.BytesCopiedByStore > 15 << 20, $"{report.BytesCopiedByStore} bytes copied by the store");
        await AssertLoadsOnCpuAsync("large", destination);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
        {
            if (Interlocked.CompareExchange(ref target, value, seen) == seen)
            {
                return;
            }
        }
    }

    [Fact]
    public async Task Convert_S3ToS3OnAStoreWithoutServerSideCopy_StreamsAndSaysSoOnce()
    {
        using var stores = Stores(s3.Server.Endpoint);
        var converter = new StoreArtifactConverter(stores);
        var (source, destination) = await UploadLargeAsync();

        var report = await converter.ConvertAsync(source, destination, DeviceMap.Create("cpu"));
        await converter.ConvertAsync(source, StorageUri.S3(Bucket, S3Fixture.UniqueKey("again.pt")), DeviceMap.Create("cpu"));

        Assert.Equal(0, report.BytesCopiedByStore);
        Assert.Single(log.Events, e => e.Message.Contains("not available", StringComparison.Ordinal));
        await AssertLoadsOnCpuAsync("large", destination);
    }

    [Fact]
    public async Task Convert_StoreThatAnswersWrongCopyETags_IsNotTrusted()
    {
        s3.Proxy.EmulateUploadPartCopy = true;
        s3.Proxy.CorruptCopyETags = true;
        using var stores = Stores(s3.Proxy.Endpoint);
        var (source, destination) = await UploadLargeAsync();

        var report = await new StoreArtifactConverter(stores).ConvertAsync(source, destination, DeviceMap.Create("cpu"));

        Assert.Equal(0, report.BytesCopiedByStore);
        Assert.Contains(log.Events, e => e.Message.Contains("answered ETag", StringComparison.Ordinal));
        await AssertLoadsOnCpuAsync("large", destination);
    }

    [Theory]
    [InlineData(503)]
    [InlineData(500)]
    [InlineData(429)]
    public async Task Convert_TransientFailures_AreRetried(int status)
    {
        var failures = 0;
        s3.Proxy.Fault = request => IsPartUpload(request) && Interlocked.Increment(ref failures) <= 2 ? status : null;
        using var stores = Stores(s3.Proxy.Endpoint);
        var (source, destination) = await UploadLargeAsync();

        await new StoreArtifactConverter(stores).ConvertAsync(source, destination, DeviceMap.Create("cpu"));

        Assert.True(failures > 2);
        await AssertLoadsOnCpuAsync("large", destination);
    }

    [Fact]
    public async Task Convert_PersistentThrottling_IsReportedAfterRetriesAndLeavesNothing()
    {
        s3.Proxy.Fault = request => IsPartUpload(request) ? 503 : null;
        using var stores = Stores(s3.Proxy.Endpoint);
        var (source, destination) = await UploadLargeAsync();

        var error = await Assert.ThrowsAsync<StorageException>(() => new StoreArtifactConverter(stores).ConvertAsync(source, destination, DeviceMap.Create("cpu")));

        Assert.Equal(StorageErrorKind.Unavailable, error.Kind);
        Assert.StartsWith($"{destination}: the store kept failing on upload of part 1 (SlowDown, HTTP 503) after 3 retries", error.Message, StringComparison.Ordinal);
        s3.ResetProxy();
        Assert.False(await s3.ExistsAsync(destination.Key));
        Assert.DoesNotContain(destination.Key, s3.Server.OpenUploads());
    }

    [Fact]
    public async Task Convert_ServerStoppedMidUpload_LeavesNoDestinationObject()
    {
        var parts = 0;
        s3.Proxy.BeforeForward = request =>
        {
            if (IsPartUpload(request) && Interlocked.Increment(ref parts) == 2)
            {
                s3.Server.Stop();
            }

            return Task.CompletedTask;
        };
        using var stores = Stores(s3.Proxy.Endpoint);
        var (source, destination) = await UploadLargeAsync();

        try
        {
            var error = await Assert.ThrowsAsync<StorageException>(() => new StoreArtifactConverter(stores).ConvertAsync(source, destination, DeviceMap.Create("cpu")));
            // With the server gone, the next source read or part upload fails first, whichever comes first; either is named.
            Assert.True(error.Message.Contains(destination.ToString(), StringComparison.Ordinal) || error.Message.Contains(source.ToString(), StringComparison.Ordinal), error.Message);
        }
        finally
        {
            s3.ResetProxy();
            s3.Server.Start();
        }

        Assert.False(await s3.ExistsAsync(destination.Key));
    }

    [Fact]
    public async Task Convert_SourceReplacedDuringConversion_IsDetectedAndNothingIsWritten()
    {
        var replaced = 0;
        var (source, destination) = await UploadLargeAsync();
        s3.Proxy.BeforeForward = async request =>
        {
            if (IsPartUpload(request) && Interlocked.Exchange(ref replaced, 1) == 0)
            {
                await s3.PutFileAsync(source.Key, torch.GpuFile("checkpoint_dict"));
            }
        };
        using var stores = Stores(s3.Proxy.Endpoint);

        var error = await Assert.ThrowsAsync<StorageException>(() => new StoreArtifactConverter(stores).ConvertAsync(source, destination, DeviceMap.Create("cpu")));

        Assert.True(error.Kind == StorageErrorKind.SourceChanged, error.ToString());
        Assert.StartsWith($"{source}: ", error.Message, StringComparison.Ordinal);
        Assert.False(await s3.ExistsAsync(destination.Key));
    }

    [Fact]
    public async Task Convert_ExistingDestination_IsKeptWithoutOverwrite()
    {
        using var stores = Stores(s3.Server.Endpoint);
        var (source, destination) = await UploadLargeAsync();
        await s3.PutFileAsync(destination.Key, torch.GpuFile("tensor"));

        var error = await Assert.ThrowsAsync<StorageException>(() => new StoreArtifactConverter(stores).ConvertAsync(source, destination, DeviceMap.Create("cpu")));

        Assert.Contains("already exists", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hard link")]
    [InlineData("symbolic link")]
    public async Task Convert_ToTheSourceUnderAnotherName_IsRefusedAndTheSourceIsKept(string kind)
    {
        using var stores = Stores(s3.Server.Endpoint);
        var source = folder.File("model.pt");
        File.Copy(torch.GpuFile("tensor"), source);
        var alias = folder.File("alias.pt");
        if (kind == "hard link")
        {
            Assert.Equal(0, Link(source, alias));
        }
        else
        {
            File.CreateSymbolicLink(alias, source);
        }

        var error = await Assert.ThrowsAsync<StorageException>(() => new StoreArtifactConverter(stores).ConvertAsync(StorageUri.Local(source), StorageUri.Local(alias), DeviceMap.Create("cpu"), overwrite: true));

        Assert.Equal($"{StorageUri.Local(alias)}: is the source ({StorageUri.Local(source)}) under another name; sources are never modified", error.Message);
        Assert.Equal(await File.ReadAllBytesAsync(torch.GpuFile("tensor")), await File.ReadAllBytesAsync(source));
    }

    [Fact]
    public async Task Convert_ReportsProgressUpToTheStorageBytes()
    {
        using var stores = Stores(s3.Server.Endpoint);
        var source = StorageUri.Local(torch.GpuFile("large"));
        using (var archive = FileSource.Open(source.Key))
        {
            var opened = await TorchFerry.Format.Archive.TorchArchive.OpenAsync(archive);
            var storageBytes = opened.Entries.Where(e => !ReferenceEquals(e, opened.PickleEntry)).Sum(e => e.UncompressedSize);
            var calls = new List<(long Done, long Total)>();

            await new StoreArtifactConverter(stores).ConvertAsync(source, StorageUri.Local(folder.File("progress.pt")), DeviceMap.Create("cpu"), progress: (done, total) => calls.Add((done, total)));

            Assert.NotEmpty(calls);
            Assert.All(calls, c => Assert.Equal(storageBytes, c.Total));
            Assert.Equal(storageBytes, calls[^1].Done);
        }
    }

    [Fact]
    public async Task Convert_LocalSourceRewrittenInPlaceWithTheSameSize_IsDetectedAndNothingIsWritten()
    {
        using var stores = Stores(s3.Server.Endpoint);
        var source = folder.File("same-size.pt");
        File.Copy(torch.GpuFile("large"), source);
        var destination = folder.File("same-size-cpu.pt");
        var rewritten = 0;

        // Mid-conversion, the source's bytes change but its size does not: only its ETag tells.
        var error = await Assert.ThrowsAsync<StorageException>(() => new StoreArtifactConverter(stores).ConvertAsync(
            StorageUri.Local(source), StorageUri.Local(destination), DeviceMap.Create("cpu"), progress: (_, _) =>
            {
                if (Interlocked.Exchange(ref rewritten, 1) == 0)
                {
                    using var file = new FileStream(source, FileMode.Open, FileAccess.Write);
                    file.Seek(-100, SeekOrigin.End);
                    file.WriteByte(0x42);
                    File.SetLastWriteTimeUtc(source, DateTime.UtcNow.AddSeconds(5));
                }
            }));

        Assert.Equal(StorageErrorKind.SourceChanged, error.Kind);
        Assert.False(File.Exists(destination));
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int Link(string existing, string created);

    public void Dispose() => folder.Dispose();

    private static bool IsPartUpload(Microsoft.AspNetCore.Http.HttpRequest request) =>
        request.Method == "PUT" && request.Query.ContainsKey("partNumber");

    private ObjectStoreRouter Stores(Uri endpoint) => new(S3ObjectStoreTests.Options(endpoint), log.Logger);

    private async Task<(StorageUri Source, StorageUri Destination)> UploadLargeAsync()
    {
        var source = StorageUri.S3(Bucket, S3Fixture.UniqueKey("gpu.pt"));
        await s3.PutFileAsync(source.Key, torch.GpuFile("large"));
        return (source, source.WithName("cpu.pt"));
    }

    private async Task AssertLoadsOnCpuAsync(string fixtureCase, StorageUri uri)
    {
        var local = folder.File(Guid.NewGuid().ToString("N") + ".pt");
        await s3.GetFileAsync(uri.Key, local);
        Assert.Empty(torch.Torch.Compare(fixtureCase, local).Problems);
    }
}
