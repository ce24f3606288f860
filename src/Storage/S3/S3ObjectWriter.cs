using System.Buffers;
using System.Security.Cryptography;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using TorchFerry.Format.Archive;

namespace TorchFerry.Storage.S3;

/// <summary>
/// Writes an S3 object front to back: one PUT when it fits in a part, else a multipart upload whose
/// parts are uploaded from two bounded buffers (one filling while the other uploads) or, for large
/// ranges of an object in the same store,
/// copied server-side (UploadPartCopy, pinned to the source's ETag). Every uploaded part's ETag is
/// checked against its MD5, part sizes are checked before completing and the final size after;
/// any failure aborts the upload so no object and no orphaned parts remain.
/// </summary>
internal sealed class S3ObjectWriter : IObjectWriter
{
    private readonly S3ObjectStore store;
    private readonly StorageUri uri;
    private readonly List<(int Number, long Size, string ETag)> parts = [];
    private byte[] buffer;
    private byte[]? spare;
    private Task? inFlight;
    private int nextPart = 1;
    private int buffered;
    private string? uploadId;
    private bool finished;

    public S3ObjectWriter(S3ObjectStore store, StorageUri uri)
    {
        this.store = store;
        this.uri = uri;
        buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(store.Options.PartSize, Array.MaxLength));
    }

    public long Position { get; private set; }

    public bool CanVerifyCopies => false;

    public long BytesUploaded { get; private set; }

    public long BytesCopiedByStore { get; private set; }

    private long PartSize => Math.Min(store.Options.PartSize, buffer.Length);

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (data.Length > 0)
        {
            var n = (int)Math.Min(data.Length, PartSize - buffered);
            data.Span[..n].CopyTo(buffer.AsSpan(buffered));
            buffered += n;
            Position += n;
            data = data[n..];
            if (buffered == PartSize)
            {
                await UploadBufferAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public async ValueTask<bool> TryCopyRangeAsync(IRandomAccessSource source, long offset, long length, CancellationToken cancellationToken)
    {
        const long minimum = S3StoreOptions.MinimumPartSize;
        if (source is not S3RangeSource s3 || !ReferenceEquals(s3.Store, store) || length < 2 * minimum
            || !await store.ServerSideCopyWorksAsync(s3, uri, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        // Every part but the last must hold 5 MiB: top up what is buffered from the range itself.
        var borrowed = 0L;
        if (buffered > 0 && buffered < minimum)
        {
            borrowed = minimum - buffered;
            await s3.ReadExactlyAsync(offset, buffer.AsMemory(buffered, (int)borrowed), cancellationToken).ConfigureAwait(false);
            buffered += (int)borrowed;
            Position += borrowed;
        }

        await UploadBufferAsync(cancellationToken).ConfigureAwait(false);
        await DrainAsync().ConfigureAwait(false);
        await EnsureUploadAsync(cancellationToken).ConfigureAwait(false);

        // The fewest parts the copy part size allows, evened out (none under S3's 5 MiB), issued
        // together up to the configured concurrency; numbered in order before any is sent.
        var remaining = length - borrowed;
        var start = offset + borrowed;
        var count = Math.Max(1, Math.Min((remaining + store.Options.CopyPartSize - 1) / store.Options.CopyPartSize, remaining / minimum));
        var chunk = (remaining + count - 1) / count;
        var copies = new List<(int Number, long First, long Size)>();
        for (var first = start; first < start + remaining; first += chunk)
        {
            copies.Add((nextPart++, first, Math.Min(chunk, start + remaining - first)));
        }

        await Parallel.ForEachAsync(
            copies,
            new ParallelOptions { MaxDegreeOfParallelism = store.Options.CopyConcurrency, CancellationToken = cancellationToken },
            async (copy, token) => await CopyPartAsync(s3, copy.Number, copy.First, copy.Size, token).ConfigureAwait(false)).ConfigureAwait(false);
        Position += remaining;
        return true;
    }

    public async Task<ObjectInfo> CompleteAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(finished, this);
        try
        {
            if (uploadId is null)
            {
                await PutAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await UploadBufferAsync(cancellationToken).ConfigureAwait(false);
                await DrainAsync().ConfigureAwait(false);
                parts.Sort((a, b) => a.Number.CompareTo(b.Number));
                await VerifyPartsAsync(cancellationToken).ConfigureAwait(false);
                await store.Client.CompleteMultipartUploadAsync(
                    new CompleteMultipartUploadRequest
                    {
                        BucketName = uri.Bucket,
                        Key = uri.Key,
                        UploadId = uploadId,
                        PartETags = parts.Select(p => new PartETag(p.Number, p.ETag)).ToList(),
                    },
                    cancellationToken).ConfigureAwait(false);
            }

            finished = true;
        }
        catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException)
        {
            await AbortAsync(CancellationToken.None).ConfigureAwait(false);
            throw S3Errors.Map(e, uri, "upload", store.Options);
        }

        var info = await store.StatAsync(uri, cancellationToken).ConfigureAwait(false);
        if (info.Size != Position)
        {
            await store.DeleteAsync(uri, CancellationToken.None).ConfigureAwait(false);
            throw new StorageException(StorageErrorKind.Other, $"{uri}: the store kept {info.Size} bytes of the {Position} written; the object was removed");
        }

        return info;
    }

    public async Task AbortAsync(CancellationToken cancellationToken)
    {
        if (finished)
        {
            return;
        }

        finished = true;
        if (uploadId is not null)
        {
            await store.AbortQuietlyAsync(uri.Bucket, uri.Key, uploadId).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            // The part in flight still reads its buffer: let it end before the buffers go back.
            await DrainAsync().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // disposal after a failure: the failure was already reported; the upload is aborted next
        catch (Exception)
#pragma warning restore CA1031
        {
        }

        await AbortAsync(CancellationToken.None).ConfigureAwait(false);
        ArrayPool<byte>.Shared.Return(buffer);
        if (spare is not null)
        {
            ArrayPool<byte>.Shared.Return(spare);
        }
    }

    private async Task PutAsync(CancellationToken cancellationToken)
    {
        var md5 = MD5.HashData(buffer.AsSpan(0, buffered));
        using var content = new MemoryStream(buffer, 0, buffered, writable: false);
        var response = await store.Client.PutObjectAsync(
            new PutObjectRequest
            {
                BucketName = uri.Bucket,
                Key = uri.Key,
                InputStream = content,
                AutoCloseStream = false,
                MD5Digest = Convert.ToBase64String(md5),
                UseChunkEncoding = store.Options.ChunkEncoding,
                DisablePayloadSigning = store.Options.UnsignedPayloads,
            },
            cancellationToken).ConfigureAwait(false);
        if (ETagMismatch(response.ETag, md5, "object") is { } corrupted)
        {
            // A PutObject is in place, whole, once it is answered: what may be corrupt must go.
            await store.DeleteAsync(uri, CancellationToken.None).ConfigureAwait(false);
            throw corrupted;
        }

        BytesUploaded += buffered;
        buffered = 0;
    }

    /// <summary>Starts uploading the filled buffer as the next part and switches to the other buffer; at most one part is in flight.</summary>
    private async Task UploadBufferAsync(CancellationToken cancellationToken)
    {
        if (buffered == 0)
        {
            return;
        }

        await EnsureUploadAsync(cancellationToken).ConfigureAwait(false);
        await DrainAsync().ConfigureAwait(false);
        var (data, count, number) = (buffer, buffered, nextPart++);
        inFlight = Task.Run(() => UploadPartAsync(data, count, number, cancellationToken), cancellationToken);
        buffer = spare ?? ArrayPool<byte>.Shared.Rent(data.Length);
        spare = data;
        buffered = 0;
    }

    private async Task DrainAsync()
    {
        if (inFlight is { } upload)
        {
            inFlight = null;
            await upload.ConfigureAwait(false);
        }
    }

    private async Task UploadPartAsync(byte[] data, int count, int number, CancellationToken cancellationToken)
    {
        var md5 = MD5.HashData(data.AsSpan(0, count));
        using var content = new MemoryStream(data, 0, count, writable: false);
        UploadPartResponse response;
        try
        {
            response = await store.Client.UploadPartAsync(
                new UploadPartRequest
                {
                    BucketName = uri.Bucket,
                    Key = uri.Key,
                    UploadId = uploadId,
                    PartNumber = number,
                    InputStream = content,
                    PartSize = count,
                    MD5Digest = Convert.ToBase64String(md5),
                    UseChunkEncoding = store.Options.ChunkEncoding,
                    DisablePayloadSigning = store.Options.UnsignedPayloads,
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException)
        {
            throw S3Errors.Map(e, uri, $"upload of part {number}", store.Options);
        }

        if (ETagMismatch(response.ETag, md5, $"part {number}") is { } corrupted)
        {
            throw corrupted; // the upload is aborted when the writer is disposed
        }

        lock (parts)
        {
            parts.Add((number, count, response.ETag));
        }

        BytesUploaded += count;
    }

    private async Task CopyPartAsync(S3RangeSource source, int number, long first, long size, CancellationToken cancellationToken)
    {
        CopyPartResponse response;
        try
        {
            response = await store.Client.CopyPartAsync(
                new CopyPartRequest
                {
                    SourceBucket = source.Uri.Bucket,
                    SourceKey = source.Uri.Key,
                    DestinationBucket = uri.Bucket,
                    DestinationKey = uri.Key,
                    UploadId = uploadId,
                    PartNumber = number,
                    FirstByte = first,
                    LastByte = first + size - 1,
                    ETagToMatch = [source.Info.ETag],
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException)
        {
            throw S3Errors.Map(e, source.Uri, $"server-side copy into part {number} of {uri}", store.Options);
        }

        if (string.IsNullOrEmpty(response.ETag))
        {
            throw new StorageException(StorageErrorKind.Other, $"{uri}: the store answered a server-side copy of part {number} without an ETag");
        }

        lock (parts)
        {
            parts.Add((number, size, response.ETag));
            BytesCopiedByStore += size;
        }
    }

    private async Task EnsureUploadAsync(CancellationToken cancellationToken)
    {
        if (uploadId is not null)
        {
            return;
        }

        try
        {
            uploadId = (await store.Client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = uri.Bucket, Key = uri.Key }, cancellationToken).ConfigureAwait(false)).UploadId;
        }
        catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException)
        {
            throw S3Errors.Map(e, uri, "start of a multipart upload", store.Options);
        }
    }

    /// <summary>The store's view of the parts must match what was sent and copied, size for size.</summary>
    private async Task VerifyPartsAsync(CancellationToken cancellationToken)
    {
        var listed = new Dictionary<int, long>();
        int? marker = null;
        while (true)
        {
            ListPartsResponse page;
            try
            {
                page = await store.Client.ListPartsAsync(
                    new ListPartsRequest { BucketName = uri.Bucket, Key = uri.Key, UploadId = uploadId, PartNumberMarker = marker?.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                    cancellationToken).ConfigureAwait(false);
            }
            catch (AmazonS3Exception e) when (e.StatusCode is System.Net.HttpStatusCode.MethodNotAllowed or System.Net.HttpStatusCode.NotImplemented)
            {
                // Some compatible stores (s3rver) cannot list parts; the size check after completing still stands.
                store.Log.Debug("{Uri:l}: the store cannot list parts ({ErrorCode:l}); relying on the final size check", uri, e.ErrorCode);
                return;
            }

            foreach (var part in page.Parts ?? [])
            {
                listed[part.PartNumber ?? 0] = part.Size ?? -1;
            }

            if (page.IsTruncated != true)
            {
                break;
            }

            marker = page.NextPartNumberMarker;
        }

        foreach (var (number, size, _) in parts)
        {
            if (!listed.TryGetValue(number, out var stored) || stored != size)
            {
                throw new StorageException(StorageErrorKind.Other, $"{uri}: the store holds {(listed.ContainsKey(number) ? stored : 0)} bytes for part {number}, not {size}; the upload was aborted");
            }
        }
    }

    private StorageException? ETagMismatch(string? etag, byte[] md5, string what)
    {
        var expected = Convert.ToHexStringLower(md5);
        return string.Equals(etag?.Trim('"'), expected, StringComparison.OrdinalIgnoreCase)
            ? null
            : new StorageException(StorageErrorKind.Other, $"{uri}: the store answered ETag {etag} for {what}, whose MD5 is {expected} (data corrupted on the way?)");
    }
}
