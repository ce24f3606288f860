using System.Collections.Concurrent;
using TorchFerry.Storage.Conversion;
using TorchFerry.Storage.Tests.S3;
using TorchFerry.TestSupport;

namespace TorchFerry.Storage.Tests.Conversion;

/// <summary>A FlyteFile's content, not its format string, says whether it is a torch.save archive; on S3, through the request log.</summary>
[Collection(S3Collection.Name)]
public sealed class TorchContentProbeTests : IDisposable
{
    private const string Bucket = S3Server.Bucket;
    private readonly S3Fixture s3;
    private readonly TorchFixtures torch;
    private readonly ListLogSink log = new();
    private readonly TemporaryDirectory folder = new();
    private readonly ConcurrentQueue<string> gets = new();

    public TorchContentProbeTests(S3Fixture s3, TorchFixtures torch)
    {
        this.s3 = s3;
        this.torch = torch;
        s3.ResetProxy();
        s3.Proxy.BeforeForward = request =>
        {
            if (request.Method == "GET")
            {
                gets.Enqueue(request.Headers.Range.Count > 0 ? request.Headers.Range.ToString() : "whole object");
            }

            return Task.CompletedTask;
        };
    }

    [Fact]
    public async Task Probe_CsvFile_IsNotTorch_AtTheCostOfOneSmallRangedRead()
    {
        var csv = StorageUri.S3(Bucket, S3Fixture.UniqueKey("table.csv"));
        var local = folder.File("table.csv");
        await File.WriteAllTextAsync(local, string.Concat(Enumerable.Repeat("epoch,loss\n1,0.5\n", 100_000)));
        await s3.PutFileAsync(csv.Key, local);
        using var stores = new ObjectStoreRouter(S3ObjectStoreTests.Options(s3.Proxy.Endpoint), log.Logger);

        Assert.False(await new TorchContentProbe(stores).IsTorchArchiveAsync(csv, CancellationToken.None));

        Assert.Equal(["bytes=0-511"], gets);
    }

    [Fact]
    public async Task Probe_TorchSaveUnderAnyName_IsTorch_AndTheAnswerIsCachedByETag()
    {
        var file = StorageUri.S3(Bucket, S3Fixture.UniqueKey("weights")); // a FlyteFile with format "" and no extension
        await s3.PutFileAsync(file.Key, torch.GpuFile("checkpoint_dict"));
        using var stores = new ObjectStoreRouter(S3ObjectStoreTests.Options(s3.Proxy.Endpoint), log.Logger);
        var probe = new TorchContentProbe(stores);

        Assert.True(await probe.IsTorchArchiveAsync(file, CancellationToken.None));
        var firstReads = gets.Count;
        Assert.True(await probe.IsTorchArchiveAsync(file, CancellationToken.None));

        Assert.Equal(1, probe.Reads);
        Assert.Equal(firstReads, gets.Count);
        var replaced = folder.File("replaced.txt");
        await File.WriteAllTextAsync(replaced, "not a checkpoint any more");
        await s3.PutFileAsync(file.Key, replaced); // a new ETag: probed again
        Assert.False(await probe.IsTorchArchiveAsync(file, CancellationToken.None));
        Assert.Equal(2, probe.Reads);
    }

    [Fact]
    public async Task Probe_OtherZipAndTorchScript_AreNotTorchSaveArchives()
    {
        using var stores = new ObjectStoreRouter(S3ObjectStoreTests.Options(s3.Server.Endpoint), log.Logger);
        var probe = new TorchContentProbe(stores);
        var zip = folder.File("other.zip");
        using (var archive = System.IO.Compression.ZipFile.Open(zip, System.IO.Compression.ZipArchiveMode.Create))
        {
            archive.CreateEntry("readme.txt");
        }

        foreach (var (name, path) in new[] { ("other.zip", zip), ("script.pt", torch.GpuFile("torchscript")) })
        {
            var uri = StorageUri.S3(Bucket, S3Fixture.UniqueKey(name));
            await s3.PutFileAsync(uri.Key, path);
            Assert.False(await probe.IsTorchArchiveAsync(uri, CancellationToken.None), name);
        }
    }

    public void Dispose() => folder.Dispose();
}
