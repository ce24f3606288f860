using TorchFerry.Storage.S3;
using TorchFerry.TestSupport;

namespace TorchFerry.Storage.Tests.S3;

[Collection(S3Collection.Name)]
public sealed class S3ObjectStoreTests : IDisposable
{
    private readonly S3Fixture s3;
    private readonly ObjectStoreRouter stores;

    public S3ObjectStoreTests(S3Fixture s3)
    {
        this.s3 = s3;
        s3.ResetProxy();
        stores = new ObjectStoreRouter(Options(s3.Server.Endpoint), new ListLogSink().Logger);
    }

    internal static S3StoreOptions Options(Uri endpoint, string accessKey = S3Server.AccessKey, string secret = S3Server.SecretKey) => new()
    {
        Endpoint = endpoint,
        Credentials = (accessKey, secret),
        PartSize = S3StoreOptions.MinimumPartSize,
        MaxErrorRetry = 3,
        RequestTimeout = TimeSpan.FromSeconds(30),
    };

    [Fact]
    public async Task Writer_LargerThanAPart_UploadsMultipartAndReadsBackByRange()
    {
        var uri = StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("multipart.bin"));
        var data = new byte[(12 << 20) + 123];
        new Random(7).NextBytes(data);
        using var proxied = new ObjectStoreRouter(Options(s3.Proxy.Endpoint), new ListLogSink().Logger);
        var store = proxied.For(uri);

        await using (var writer = await store.CreateWriterAsync(uri, default))
        {
            for (var offset = 0; offset < data.Length; offset += 1 << 20)
            {
                await writer.WriteAsync(data.AsMemory(offset, Math.Min(1 << 20, data.Length - offset)), default);
            }

            var info = await writer.CompleteAsync(default);
            Assert.Equal(data.Length, info.Size);
            Assert.Equal(3, s3.Proxy.Requests.Count(r => r.StartsWith("PUT ", StringComparison.Ordinal) && r.Contains("partNumber=", StringComparison.Ordinal)));
        }

        var stat = await store.StatAsync(uri, default);
        var source = await store.OpenReadAsync(uri, stat, default);
        var slice = new byte[1000];
        await source.ReadExactlyAsync(5_242_000, slice, default);
        Assert.Equal(data.AsSpan(5_242_000, 1000).ToArray(), slice);
        Assert.Equal(1000, source.BytesRead);
    }

    [Fact]
    public async Task Writer_SmallerThanAPart_IsOnePut()
    {
        var uri = StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("small.bin"));
        await using var writer = await stores.For(uri).CreateWriterAsync(uri, default);

        await writer.WriteAsync(new byte[] { 1, 2, 3 }, default);
        var info = await writer.CompleteAsync(default);

        Assert.Equal(3, info.Size);
        Assert.DoesNotContain('-', info.ETag);
    }

    [Fact]
    public async Task Writer_DisposedWithoutComplete_LeavesNoObject_AndAbortsItsUploadSoNoPartsAreLeft()
    {
        var uri = StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("abandoned.bin"));
        using var proxied = new ObjectStoreRouter(Options(s3.Proxy.Endpoint), new ListLogSink().Logger);
        await using (var writer = await proxied.For(uri).CreateWriterAsync(uri, default))
        {
            await writer.WriteAsync(new byte[11 << 20], default);
            Assert.Contains(uri.Key, s3.Server.OpenUploads()); // two parts are stored by now
        }

        Assert.False(await s3.ExistsAsync(uri.Key));
        Assert.DoesNotContain(uri.Key, s3.Server.OpenUploads()); // an unfinished upload never shows in a listing, but its parts are billed
    }

    [Fact]
    public async Task List_ByPrefix_FindsOnlyThoseObjects_AndDeleteRemovesThem()
    {
        var folder = S3Fixture.UniqueKey(string.Empty);
        foreach (var name in new[] { "a.pt", "b.pt", "sub/c.pt" })
        {
            var uri = StorageUri.S3(S3Server.Bucket, folder + name);
            await using var writer = await stores.For(uri).CreateWriterAsync(uri, default);
            await writer.WriteAsync(new byte[] { 42 }, default);
            await writer.CompleteAsync(default);
        }

        var prefix = StorageUri.S3(S3Server.Bucket, folder);
        var listed = new List<string>();
        await foreach (var (uri, info) in stores.For(prefix).ListAsync(prefix, default))
        {
            listed.Add(uri.Key[folder.Length..]);
            Assert.Equal(1, info.Size);
        }

        Assert.Equal(["a.pt", "b.pt", "sub/c.pt"], listed.Order());
        await stores.For(prefix).DeleteAsync(StorageUri.S3(S3Server.Bucket, folder + "a.pt"), default);
        Assert.False(await s3.ExistsAsync(folder + "a.pt"));
    }

    [Fact]
    public async Task Stat_MissingKey_SaysNoSuchObject()
    {
        var uri = StorageUri.S3(S3Server.Bucket, "missing/model.pt");

        var error = await Assert.ThrowsAsync<StorageException>(() => stores.For(uri).StatAsync(uri, default));

        Assert.Equal((StorageErrorKind.NotFound, $"s3://{S3Server.Bucket}/missing/model.pt: no such object"), (error.Kind, error.Message));
    }

    [Fact]
    public async Task Stat_MissingBucket_SaysTheBucketDoesNotExist()
    {
        var uri = StorageUri.S3("no-such-bucket", "model.pt");

        var error = await Assert.ThrowsAsync<StorageException>(() => stores.For(uri).StatAsync(uri, default));

        Assert.Equal((StorageErrorKind.NotFound, "s3://no-such-bucket/model.pt: bucket 'no-such-bucket' does not exist"), (error.Kind, error.Message));
    }

    [Fact]
    public async Task Read_WithBadCredentials_IsAccessDeniedWithoutTheSecret()
    {
        const string secret = "SECRET-DO-NOT-LOG-4711";
        // s3rver checks the access key, not V4 signatures: an unknown key is what it can refuse.
        using var wrong = new ObjectStoreRouter(Options(s3.Server.Endpoint, "NOT-A-KEY", secret), new ListLogSink().Logger);
        var uri = StorageUri.S3(S3Server.Bucket, "anything.pt");

        var error = await Assert.ThrowsAsync<StorageException>(() => wrong.For(uri).StatAsync(uri, default));

        Assert.Equal(StorageErrorKind.AccessDenied, error.Kind);
        Assert.StartsWith($"{uri}: access denied", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stat_UnreachableEndpoint_NamesTheEndpoint()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // nothing listens there now
        using var nowhere = new ObjectStoreRouter(Options(new Uri($"http://127.0.0.1:{port}")) with { MaxErrorRetry = 0 }, new ListLogSink().Logger);
        var uri = StorageUri.S3(S3Server.Bucket, "x.pt");

        var error = await Assert.ThrowsAsync<StorageException>(() => nowhere.For(uri).StatAsync(uri, default));

        Assert.Equal(StorageErrorKind.Unreachable, error.Kind);
        Assert.StartsWith($"{uri}: cannot reach http://127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => stores.Dispose();
}
