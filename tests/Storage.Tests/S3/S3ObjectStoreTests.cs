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
            Assert.Equal(data.Length, writer.BytesUploaded);
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
        Assert.Equal(3, writer.BytesUploaded);
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

    [Theory]
    [InlineData(3, "object")] // one PutObject
    [InlineData(11 << 20, "part 1")] // a multipart upload
    public async Task Writer_StoreAnsweringAnETagThatIsNotTheMd5_IsRefused_AndLeavesNothing(int size, string what)
    {
        var uri = StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("corrupted.bin"));
        s3.Proxy.CorruptPutETags = true;
        using var proxied = new ObjectStoreRouter(Options(s3.Proxy.Endpoint), new ListLogSink().Logger);
        var data = new byte[size];
        StorageException error;
        await using (var writer = await proxied.For(uri).CreateWriterAsync(uri, default))
        {
            // A part is checked when the next one starts or at completion, whichever comes first.
            error = await Assert.ThrowsAsync<StorageException>(async () =>
            {
                await writer.WriteAsync(data, default);
                await writer.CompleteAsync(default);
            });
        }

        var md5 = Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(data.AsSpan(0, (int)Math.Min(size, S3StoreOptions.MinimumPartSize))));
        Assert.Equal($"{uri}: the store answered ETag \"0123456789abcdef0123456789abcdef\" for {what}, whose MD5 is {md5} (data corrupted on the way?)", error.Message);
        s3.Proxy.CorruptPutETags = false;
        Assert.False(await s3.ExistsAsync(uri.Key));
        Assert.DoesNotContain(uri.Key, s3.Server.OpenUploads());
    }

    [Fact]
    public async Task List_MoreThanAPageOfObjects_FollowsTheContinuationToken()
    {
        // S3 answers at most 1,000 keys a page; a FlyteDirectory of shards can hold more.
        var folder = S3Fixture.UniqueKey(string.Empty);
        var names = Enumerable.Range(0, 1_003).Select(i => $"shard-{i:D4}.pt").ToList();
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (name, token) =>
            await s3.PutBytesAsync(folder + name, "x"u8.ToArray(), token));
        var prefix = StorageUri.S3(S3Server.Bucket, folder);
        using var proxied = new ObjectStoreRouter(Options(s3.Proxy.Endpoint), new ListLogSink().Logger);

        var listed = new List<string>();
        await foreach (var (uri, _) in proxied.For(prefix).ListAsync(prefix, default))
        {
            listed.Add(uri.Key[folder.Length..]);
        }

        Assert.Equal(names, listed.Order());
        Assert.Equal(2, s3.Proxy.Requests.Count(r => r.StartsWith("GET /" + S3Server.Bucket, StringComparison.Ordinal) && r.Contains("list-type=2", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Writer_AbortThatFails_IsLoggedAsAWarningNamingTheUpload_AndAnUploadAlreadyGoneIsNot()
    {
        var log = new ListLogSink();
        using var proxied = new ObjectStoreRouter(Options(s3.Proxy.Endpoint), log.Logger);
        var failing = StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("abort-fails.bin"));
        var gone = StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("abort-gone.bin"));

        // The store refuses every abort of the first upload (500s, past the retries).
        s3.Proxy.Fault = request => request.Method == "DELETE" && request.Path.Value!.EndsWith(failing.Key, StringComparison.Ordinal) ? 500 : null;
        await using (var writer = await proxied.For(failing).CreateWriterAsync(failing, default))
        {
            await writer.WriteAsync(new byte[6 << 20], default);
        }

        // The second upload is removed behind the writer's back (a lifecycle rule, say) just before its
        // abort arrives, which the store then answers with NoSuchUpload: not a failure.
        s3.Proxy.Fault = null;
        s3.Proxy.BeforeForward = request =>
        {
            if (request.Method == "DELETE" && request.Query["uploadId"] is [{ } uploadId] && request.Path.Value!.EndsWith(gone.Key, StringComparison.Ordinal))
            {
                Assert.True(s3.Server.AbortUpload(uploadId));
            }

            return Task.CompletedTask;
        };
        await using (var writer = await proxied.For(gone).CreateWriterAsync(gone, default))
        {
            await writer.WriteAsync(new byte[6 << 20], default);
        }

        var warnings = log.Events.Where(e => e.Level >= Serilog.Events.LogEventLevel.Warning).Select(e => e.Message).ToList();
        var warning = Assert.Single(warnings);
        Assert.StartsWith("Could not abort multipart upload ", warning, StringComparison.Ordinal);
        Assert.EndsWith($" of s3://{S3Server.Bucket}/{failing.Key}; a lifecycle rule for incomplete uploads will remove it", warning, StringComparison.Ordinal);
        Assert.Contains(failing.Key, s3.Server.OpenUploads()); // left for the lifecycle rule, as the warning says
        Assert.Equal(4, s3.Proxy.Requests.Count(r => r.StartsWith("DELETE ", StringComparison.Ordinal) && r.Contains(failing.Key, StringComparison.Ordinal))); // the first try and three retries
        Assert.Equal(1, s3.Proxy.Requests.Count(r => r.StartsWith("DELETE ", StringComparison.Ordinal) && r.Contains(gone.Key, StringComparison.Ordinal))); // NoSuchUpload is not retried
        Assert.DoesNotContain(gone.Key, s3.Server.OpenUploads());
    }

    [Theory]
    [InlineData(0L, 11L)]
    [InlineData(10L, 1L)]
    [InlineData(11L, 0L)]
    public async Task Range_EndingAtOrBeforeTheObjectsEnd_IsRead(long offset, long length)
    {
        var (store, uri, info) = await ElevenBytesAsync();
        var source = await store.OpenReadAsync(uri, info, default);

        await using var range = source.OpenRange(offset, length);
        var read = new byte[length];
        await range.ReadExactlyAsync(read, default);

        Assert.Equal("0123456789A"u8.ToArray().AsSpan((int)offset, (int)length).ToArray(), read);
    }

    [Theory]
    [InlineData(0L, 12L)]
    [InlineData(11L, 1L)]
    [InlineData(-1L, 1L)]
    [InlineData(0L, -1L)]
    public async Task Range_PastTheObjectsEndOrNegative_IsRefusedAsTruncated(long offset, long length)
    {
        var (store, uri, info) = await ElevenBytesAsync();
        var source = await store.OpenReadAsync(uri, info, default);

        var error = Assert.Throws<TorchFerry.Format.ArtifactFormatException>(() => source.OpenRange(offset, length));

        Assert.Equal(TorchFerry.Format.FormatErrorKind.Truncated, error.Kind);
        Assert.Equal($"{uri}: read of bytes {offset} to {offset + length} runs past the end of the object (11 bytes; truncated?)", error.Message);
    }

    private async Task<(IObjectStore Store, StorageUri Uri, ObjectInfo Info)> ElevenBytesAsync()
    {
        var uri = await WrittenAsync("eleven.bin", "0123456789A"u8.ToArray());
        var store = stores.For(uri);
        return (store, uri, await store.StatAsync(uri, default));
    }

    [Fact]
    public async Task CopyRange_AfterBufferedBytes_TopsUpAPartThenCopiesEvenParts_AndTheObjectIsTheBytes()
    {
        const int MiB = 1 << 20;
        var (sourceUri, bytes) = await RandomObjectAsync("copy-source.bin", 23 * MiB);
        s3.Proxy.EmulateUploadPartCopy = true;
        using var proxied = new ObjectStoreRouter(Options(s3.Proxy.Endpoint) with { CopyPartSize = S3StoreOptions.MinimumPartSize }, new ListLogSink().Logger);
        var store = proxied.For(sourceUri);
        var source = await store.OpenReadAsync(sourceUri, await store.StatAsync(sourceUri, default), default);
        var uri = StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("copied.bin"));
        var head = new byte[MiB];
        new Random(3).NextBytes(head);
        var served = s3.Proxy.CopiesServed;

        await using var writer = await store.CreateWriterAsync(uri, default);
        await writer.WriteAsync(head, default);
        Assert.True(await writer.TryCopyRangeAsync(source, MiB, (18 * MiB) + 3, default));
        await writer.WriteAsync(new byte[] { 7, 8 }, default);
        await writer.CompleteAsync(default);

        // 4 MiB read to fill the first 5 MiB part; 14 MiB and 3 bytes copied as two parts of 7 MiB and 2
        // and 1 bytes (three of the 5 MiB copy part size would leave one under S3's minimum); the tail put.
        Assert.Equal(((14 * MiB) + 3, (5 * MiB) + 2), (writer.BytesCopiedByStore, writer.BytesUploaded));
        Assert.Equal(3, s3.Proxy.CopiesServed - served); // the probe's and the two parts
        Assert.Equal([.. head, .. bytes.AsSpan(MiB, (18 * MiB) + 3), 7, 8], await s3.GetBytesAsync(uri.Key));
    }

    [Fact]
    public async Task CopyRange_UnderTwoMinimumParts_IsStreamedNotCopied_FromTwoItIsCopiedInTheFewestParts()
    {
        const long minimum = S3StoreOptions.MinimumPartSize;
        var (sourceUri, _) = await RandomObjectAsync("copy-edge.bin", 16 << 20);
        s3.Proxy.EmulateUploadPartCopy = true;
        using var proxied = new ObjectStoreRouter(Options(s3.Proxy.Endpoint) with { CopyPartSize = 8 << 20 }, new ListLogSink().Logger);
        var store = proxied.For(sourceUri);
        var source = await store.OpenReadAsync(sourceUri, await store.StatAsync(sourceUri, default), default);
        var served = s3.Proxy.CopiesServed;

        await using (var writer = await store.CreateWriterAsync(StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("short.bin")), default))
        {
            Assert.False(await writer.TryCopyRangeAsync(source, 0, (2 * minimum) - 1, default));
        }

        Assert.Equal(served, s3.Proxy.CopiesServed); // not even the probe

        // Two minimum parts exactly, then a tail: parts of 5 MiB each (the proxy refuses, as S3
        // does, to complete an upload with a part under 5 MiB before its last).
        await using (var writer = await store.CreateWriterAsync(StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("ten.bin")), default))
        {
            Assert.True(await writer.TryCopyRangeAsync(source, 0, 2 * minimum, default));
            await writer.WriteAsync(new byte[] { 1 }, default);
            await writer.CompleteAsync(default);
            Assert.Equal((2 * minimum, 1L), (writer.BytesCopiedByStore, writer.BytesUploaded)); // nothing buffered: nothing topped up
        }

        Assert.Equal(served + 3, s3.Proxy.CopiesServed); // the probe's and two parts

        // Twice the copy part size: two parts of 8 MiB, not three.
        await using (var writer = await store.CreateWriterAsync(StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("sixteen.bin")), default))
        {
            Assert.True(await writer.TryCopyRangeAsync(source, 0, 16 << 20, default));
            await writer.CompleteAsync(default);
        }

        Assert.Equal(served + 5, s3.Proxy.CopiesServed);
    }

    private async Task<(StorageUri Uri, byte[] Bytes)> RandomObjectAsync(string name, int size)
    {
        var bytes = new byte[size];
        new Random(size).NextBytes(bytes);
        return (await WrittenAsync(name, bytes), bytes);
    }

    // An object of these bytes under a new key, written through the store under test.
    private async Task<StorageUri> WrittenAsync(string name, byte[] bytes)
    {
        var uri = StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey(name));
        await using var writer = await stores.For(uri).CreateWriterAsync(uri, default);
        await writer.WriteAsync(bytes, default);
        await writer.CompleteAsync(default);
        return uri;
    }

    [Fact]
    public void Store_FromOptionsBuiltInCodeOutOfRange_IsRefusedWhenMade()
    {
        // Options from the environment are checked as they are read; ones built in code when the store is made.
        using var router = new ObjectStoreRouter(Options(s3.Server.Endpoint) with { PartSize = S3StoreOptions.MinimumPartSize - 1 }, new ListLogSink().Logger);

        var error = Assert.Throws<ArgumentException>(() => router.For(StorageUri.S3(S3Server.Bucket, "k")));
        Assert.StartsWith($"S3 part size {S3StoreOptions.MinimumPartSize - 1} bytes is outside S3's limits (5 MiB to 5 GiB)", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(3)] // one PutObject
    [InlineData(11 << 20)] // a multipart upload
    public async Task Writer_ForAStoreThatRefusesFlexibleChecksums_SendsThemOnlyWhenRequired(int size)
    {
        // Stores that predate the SDK's default checksums refuse them; by default none are sent.
        s3.Proxy.RefuseFlexibleChecksums = true;
        var uri = StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("checksums.bin"));
        var data = new byte[size];
        new Random(size).NextBytes(data);

        using (var compatible = new ObjectStoreRouter(Options(s3.Proxy.Endpoint), new ListLogSink().Logger))
        {
            var store = compatible.For(uri);
            await using (var writer = await store.CreateWriterAsync(uri, default))
            {
                await writer.WriteAsync(data, default);
                await writer.CompleteAsync(default);
            }

            var source = await store.OpenReadAsync(uri, await store.StatAsync(uri, default), default);
            var back = new byte[size];
            await source.ReadExactlyAsync(0, back, default);
            Assert.Equal(data, back);
        }

        using var sdkDefaults = new ObjectStoreRouter(Options(s3.Proxy.Endpoint) with { ChecksumsWhenRequired = false }, new ListLogSink().Logger);
        var other = StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("checksums-default.bin"));
        await using var refused = await sdkDefaults.For(other).CreateWriterAsync(other, default);
        await Assert.ThrowsAsync<StorageException>(async () =>
        {
            await refused.WriteAsync(data, default);
            await refused.CompleteAsync(default);
        });
    }

    [Theory]
    [InlineData("delete")]
    [InlineData("list")]
    [InlineData("upload")]
    [InlineData("start of a multipart upload")]
    [InlineData("upload of part 1")]
    [InlineData("ranged read")]
    public async Task Operation_StoreFailingPastItsRetries_IsUnavailableNamingTheOperation(string operation)
    {
        var uri = StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("failing.bin"));
        using var proxied = new ObjectStoreRouter(Options(s3.Proxy.Endpoint) with { MaxErrorRetry = 1 }, new ListLogSink().Logger);
        var store = proxied.For(uri);
        await using (var writer = await store.CreateWriterAsync(uri, default))
        {
            await writer.WriteAsync(new byte[] { 1, 2, 3 }, default);
            await writer.CompleteAsync(default);
        }

        var info = await store.StatAsync(uri, default);
        s3.Proxy.Fault = request => operation switch
        {
            "delete" => request.Method == "DELETE",
            "list" => request.Method == "GET" && request.Query.ContainsKey("list-type"),
            "upload" => request.Method == "PUT" && !request.Query.ContainsKey("uploadId"),
            "start of a multipart upload" => request.Method == "POST" && request.Query.ContainsKey("uploads"),
            "upload of part 1" => request.Method == "PUT" && request.Query.ContainsKey("partNumber"),
            _ => request.Method == "GET" && request.Headers.ContainsKey("Range"),
        } ? 500 : null;

        var error = await Assert.ThrowsAsync<StorageException>(async () =>
        {
            switch (operation)
            {
                case "delete":
                    await store.DeleteAsync(uri, default);
                    break;
                case "list":
                    await foreach (var _ in store.ListAsync(StorageUri.S3(S3Server.Bucket, uri.Key[..33]), default))
                    {
                    }

                    break;
                case "ranged read":
                    var source = await store.OpenReadAsync(uri, info, default);
                    await source.ReadExactlyAsync(0, new byte[3], default);
                    break;
                default:
                    var other = StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("failing-write.bin"));
                    await using (var writer = await store.CreateWriterAsync(other, default))
                    {
                        await writer.WriteAsync(new byte[operation == "upload" ? 3 : 11 << 20], default);
                        await writer.CompleteAsync(default);
                    }

                    break;
            }
        });

        Assert.Equal(StorageErrorKind.Unavailable, error.Kind);
        Assert.EndsWith($": the store kept failing on {operation} (InternalError, HTTP 500) after 1 retries", error.Message, StringComparison.Ordinal);
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
