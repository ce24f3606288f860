using Amazon.Runtime;
using Amazon.S3.Model;
using TorchFerry.Archive;

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
            throw new ArchiveFormatException($"{uri}: read of bytes {offset} to {offset + length} runs past the end of the object ({info.Size} bytes; truncated?)");
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
    private sealed class RangeStream(S3RangeSource owner, long offset, long length) : Stream
    {
        private GetObjectResponse? response;
        private long position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position
        {
            get => position;
            set => throw new NotSupportedException();
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var want = (int)Math.Min(buffer.Length, length - position);
            if (want <= 0)
            {
                return 0;
            }

            response ??= await owner.GetAsync(offset, length, cancellationToken).ConfigureAwait(false);
            int n;
            try
            {
                n = await response.ResponseStream.ReadAsync(buffer[..want], cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or HttpRequestException)
            {
                throw S3Errors.Map(e, owner.Uri, "ranged read", owner.Store.Options);
            }

            if (n == 0)
            {
                throw await owner.ShortReadAsync(position, length, cancellationToken).ConfigureAwait(false);
            }

            position += n;
            Interlocked.Add(ref owner.bytesRead, n);
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) =>
            ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

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
