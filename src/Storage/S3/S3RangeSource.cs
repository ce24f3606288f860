using Amazon.Runtime;
using Amazon.S3.Model;
using TorchFerry.Format;
using TorchFerry.Format.Archive;

namespace TorchFerry.Storage.S3;

/// <summary>
/// An S3 object read with ranged GETs, every one pinned to the ETag seen at open (If-Match), so a
/// replaced object fails the read instead of mixing versions. Counts the bytes it fetched.
/// </summary>
internal sealed class S3RangeSource(S3ObjectStore store, StorageUri uri, ObjectInfo info) : IRandomAccessSource
{
    private long bytesRead;

    public string Name => uri.ToString();

    public long Length => info.Size;

    public StorageUri Uri => uri;

    public ObjectInfo Info => info;

    public S3ObjectStore Store => store;

    /// <summary>Bytes fetched from the store so far.</summary>
    public long BytesRead => Interlocked.Read(ref bytesRead);

    public async ValueTask ReadExactlyAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (buffer.Length == 0)
        {
            return;
        }

        await using var stream = OpenRange(offset, buffer.Length);
        await stream.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public Stream OpenRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset + length > info.Size)
        {
            throw new ArtifactFormatException(FormatErrorKind.Truncated, $"{uri}: read of bytes {offset} to {offset + length} runs past the end of the object ({info.Size} bytes; truncated?)");
        }

        return new RangeStream(this, offset, length);
    }

    /// <summary>A ranged read that ends early: most often the object was replaced under it.</summary>
    private async Task<StorageException> ShortReadAsync(long position, long length, CancellationToken cancellationToken)
    {
        var now = await store.StatAsync(uri, cancellationToken).ConfigureAwait(false);
        return now.ETag != info.ETag
            ? new StorageException(StorageErrorKind.SourceChanged, $"{uri}: changed while it was being read (ETag {info.ETag} became {now.ETag}); nothing was written")
            : new StorageException(StorageErrorKind.Unavailable, $"{uri}: the store ended a ranged read after {position} of {length} bytes");
    }

    private async Task<GetObjectResponse> GetAsync(long offset, long length, CancellationToken cancellationToken)
    {
        try
        {
            return await store.Client.GetObjectAsync(
                new GetObjectRequest
                {
                    BucketName = uri.Bucket,
                    Key = uri.Key,
                    ByteRange = new ByteRange(offset, offset + length - 1),
                    EtagToMatch = info.ETag,
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException)
        {
            throw S3Errors.Map(e, uri, "ranged read", store.Options);
        }
    }

    /// <summary>Streams one range; the GET is sent on first read.</summary>
    private sealed class RangeStream(S3RangeSource owner, long start, long rangeLength) : RangeReadStream(rangeLength)
    {
        private GetObjectResponse? response;

        protected override async ValueTask<int> ReadCoreAsync(Memory<byte> buffer, long offset, CancellationToken cancellationToken)
        {
            response ??= await owner.GetAsync(start, Length, cancellationToken).ConfigureAwait(false);
            try
            {
                var n = await response.ResponseStream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                Interlocked.Add(ref owner.bytesRead, n);
                return n;
            }
            catch (Exception e) when (e is IOException or HttpRequestException)
            {
                throw S3Errors.Map(e, owner.Uri, "ranged read", owner.Store.Options);
            }
        }

        protected override async ValueTask<Exception> EndedEarlyAsync(long offset, CancellationToken cancellationToken) =>
            await owner.ShortReadAsync(offset, Length, cancellationToken).ConfigureAwait(false);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                response?.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
