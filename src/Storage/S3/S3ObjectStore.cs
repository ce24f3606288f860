using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Serilog;
using TorchFerry.Format.Archive;

namespace TorchFerry.Storage.S3;

/// <summary>S3 or an S3-compatible store through AWSSDK.S3.</summary>
internal sealed class S3ObjectStore : IObjectStore, IDisposable
{
    private const int ProbeBytes = 64 * 1024;
    private readonly ILogger log;
    private readonly Lock probeGate = new();
    private Task<bool>? copyProbe;

    public S3ObjectStore(S3StoreOptions options, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        this.log = log.ForContext<S3ObjectStore>();
        var config = new AmazonS3Config
        {
            RetryMode = RequestRetryMode.Standard,
            MaxErrorRetry = options.MaxErrorRetry,
            Timeout = options.RequestTimeout,
        };
        if (options.ChecksumsWhenRequired)
        {
            config.RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED;
            config.ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED;
        }

        if (options.Endpoint is { } endpoint)
        {
            config.ServiceURL = endpoint.ToString();
            config.ForcePathStyle = true;
            config.AuthenticationRegion = options.Region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
        }

        Client = options.Credentials is { } keys
            ? new AmazonS3Client(new BasicAWSCredentials(keys.AccessKey, keys.SecretKey), config)
            : new AmazonS3Client(config);
    }

    public S3StoreOptions Options { get; }

    internal IAmazonS3 Client { get; }

    internal ILogger Log => log;

    public async Task<ObjectInfo> StatAsync(StorageUri uri, CancellationToken cancellationToken)
    {
        try
        {
            var metadata = await Client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = uri.Bucket, Key = uri.Key }, cancellationToken).ConfigureAwait(false);
            return new ObjectInfo(metadata.ContentLength, metadata.ETag);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            // A HEAD answers 404 without a body; tell a missing bucket from a missing key.
            throw await BucketExistsAsync(uri, cancellationToken).ConfigureAwait(false)
                ? new StorageException(StorageErrorKind.NotFound, $"{uri}: no such object", e)
                : new StorageException(StorageErrorKind.NotFound, $"{uri}: bucket '{uri.Bucket}' does not exist", e);
        }
        catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException)
        {
            throw S3Errors.Map(e, uri, "stat", Options);
        }
    }

    public async Task<IRandomAccessSource> OpenReadAsync(StorageUri uri, ObjectInfo expected, CancellationToken cancellationToken)
    {
        await Task.CompletedTask.ConfigureAwait(false);
        return new S3RangeSource(this, uri, expected);
    }

    // S3 has no file modes; whether to replace is checked by the caller before the upload.
    public Task<IObjectWriter> CreateWriterAsync(StorageUri uri, CancellationToken cancellationToken, ObjectWriteOptions? options = null) =>
        Task.FromResult<IObjectWriter>(new S3ObjectWriter(this, uri));

    public async Task DeleteAsync(StorageUri uri, CancellationToken cancellationToken)
    {
        try
        {
            await Client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = uri.Bucket, Key = uri.Key }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException)
        {
            throw S3Errors.Map(e, uri, "delete", Options);
        }
    }

    public async IAsyncEnumerable<(StorageUri Uri, ObjectInfo Info)> ListAsync(StorageUri prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? token = null;
        do
        {
            ListObjectsV2Response page;
            try
            {
                page = await Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = prefix.Bucket, Prefix = prefix.Key, ContinuationToken = token }, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException)
            {
                throw S3Errors.Map(e, prefix, "list", Options);
            }

            foreach (var item in page.S3Objects ?? [])
            {
                yield return (StorageUri.S3(prefix.Bucket, item.Key), new ObjectInfo(item.Size ?? 0, item.ETag));
            }

            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
    }

    /// <summary>
    /// Whether UploadPartCopy works on this store, decided once: a small range of a real source is
    /// copied into a scratch upload beside the destination, its ETag compared with the MD5 of the
    /// same bytes read directly, and the upload aborted. A store that refuses or answers wrongly is
    /// reported once and streamed through from then on.
    /// </summary>
    internal Task<bool> ServerSideCopyWorksAsync(S3RangeSource source, StorageUri destination, CancellationToken cancellationToken)
    {
        if (!Options.ServerSideCopy)
        {
            return Task.FromResult(false);
        }

        lock (probeGate)
        {
            return copyProbe ??= ProbeAsync(source, destination, cancellationToken);
        }
    }

    public void Dispose() => Client.Dispose();

    private async Task<bool> ProbeAsync(S3RangeSource source, StorageUri destination, CancellationToken cancellationToken)
    {
        var endpoint = Options.Endpoint?.GetLeftPart(UriPartial.Authority) ?? $"S3 {Options.Region}";
        var probeKey = destination.Key + $".torchferry-copy-probe-{Guid.NewGuid():N}";
        var length = (int)Math.Min(ProbeBytes, source.Length);
        if (length == 0)
        {
            return false;
        }

        string? uploadId = null;
        try
        {
            uploadId = (await Client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = destination.Bucket, Key = probeKey }, cancellationToken).ConfigureAwait(false)).UploadId;
            var copy = await Client.CopyPartAsync(
                new CopyPartRequest
                {
                    SourceBucket = source.Uri.Bucket,
                    SourceKey = source.Uri.Key,
                    DestinationBucket = destination.Bucket,
                    DestinationKey = probeKey,
                    UploadId = uploadId,
                    PartNumber = 1,
                    FirstByte = 0,
                    LastByte = length - 1,
                    ETagToMatch = [source.Info.ETag],
                },
                cancellationToken).ConfigureAwait(false);
            var bytes = new byte[length];
            await source.ReadExactlyAsync(0, bytes, cancellationToken).ConfigureAwait(false);
            var expected = Convert.ToHexStringLower(MD5.HashData(bytes));
            if (!string.Equals(copy.ETag?.Trim('"'), expected, StringComparison.OrdinalIgnoreCase))
            {
                log.Warning("Server-side copy on {Endpoint:l} answered ETag {ETag:l} for bytes whose MD5 is {Expected:l}; copying through TorchFerry instead", endpoint, copy.ETag, expected);
                return false;
            }

            log.Information("Server-side copy (UploadPartCopy) verified on {Endpoint:l}", endpoint);
            return true;
        }
        catch (AmazonS3Exception e)
        {
            log.Warning("Server-side copy (UploadPartCopy) is not available on {Endpoint:l} ({ErrorCode:l}); copying through TorchFerry instead", endpoint, e.ErrorCode ?? e.StatusCode.ToString());
            return false;
        }
        finally
        {
            if (uploadId is not null)
            {
                await AbortQuietlyAsync(destination.Bucket, probeKey, uploadId, probe: true).ConfigureAwait(false);
            }
        }
    }

    internal async Task AbortQuietlyAsync(string bucket, string key, string uploadId, bool probe = false)
    {
        try
        {
            await Client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = bucket, Key = key, UploadId = uploadId }).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchUpload")
        {
            // Already gone.
        }
        catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException)
        {
            // A probe upload never holds a part, so a store that cannot abort it loses nothing.
            log.Write(probe ? Serilog.Events.LogEventLevel.Debug : Serilog.Events.LogEventLevel.Warning, e, "Could not abort multipart upload {UploadId:l} of s3://{Bucket:l}/{Key:l}; a lifecycle rule for incomplete uploads will remove it", uploadId, bucket, key);
        }
    }

    private async Task<bool> BucketExistsAsync(StorageUri uri, CancellationToken cancellationToken)
    {
        try
        {
            await Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = uri.Bucket, MaxKeys = 1 }, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket" || e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
        catch (AmazonS3Exception)
        {
            return true;
        }
    }
}
