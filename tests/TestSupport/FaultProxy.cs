using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace TorchFerry.TestSupport;

/// <summary>
/// An HTTP proxy in front of <see cref="S3Server"/> on 127.0.0.1 that can inject faults (5xx,
/// throttling, a hook run before a request is forwarded) and, when asked, answers UploadPartCopy
/// itself the way S3 does (s3rver lacks it): it reads the source range and uploads it as the
/// part, pinned to the If-Match ETag. AbortMultipartUpload, which s3rver answers with 405, is
/// answered as S3 does (the upload and its parts removed, 204; 404 NoSuchUpload when there is none).
/// CompleteMultipartUpload is refused as S3 refuses it (400 EntityTooSmall) when a part before the
/// last holds under 5 MiB, which s3rver accepts. Requests are forwarded with their Host header, so the client's signatures stay valid.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly HttpClient forward;
    private readonly IAmazonS3 direct;
    private readonly Uri target;
    private readonly S3Server server;

    public FaultProxy(S3Server server)
    {
        target = server.Endpoint;
        this.server = server;
        forward = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false }) { Timeout = TimeSpan.FromMinutes(2) };
        direct = S3Server.CreateClient(server.Endpoint);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = null);
        app = builder.Build();
        app.Run(HandleAsync);
        app.StartAsync().GetAwaiter().GetResult();
        Endpoint = new Uri(app.Urls.First());
    }

    public Uri Endpoint { get; }

    /// <summary>Answer UploadPartCopy as S3 would.</summary>
    public bool EmulateUploadPartCopy { get; set; }

    /// <summary>With <see cref="EmulateUploadPartCopy"/>: answer a wrong ETag, as a broken store might.</summary>
    public bool CorruptCopyETags { get; set; }

    /// <summary>Answer each forwarded PUT (an object or a part) with an ETag that is not its MD5, as a broken store or a corrupting middlebox might.</summary>
    public bool CorruptPutETags { get; set; }

    /// <summary>
    /// Refuse requests that carry the SDK's flexible checksums (<c>x-amz-checksum-*</c>,
    /// <c>x-amz-sdk-checksum-algorithm</c>), as S3-compatible stores that predate them do.
    /// </summary>
    public bool RefuseFlexibleChecksums { get; set; }

    /// <summary>Decides per request whether to fail it: return a status (500, 503, 429) or null to forward.</summary>
    public Func<HttpRequest, int?>? Fault { get; set; }

    /// <summary>Runs before a request is forwarded (to stop the server or replace an object mid-conversion).</summary>
    public Func<HttpRequest, Task>? BeforeForward { get; set; }

    private readonly List<string> requests = [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string UploadId, int Part), long> partSizes = new();
    private int copiesServed;

    /// <summary>A snapshot of the requests seen, as "METHOD path?query", with " [copy]" for UploadPartCopy (safe while requests keep arriving).</summary>
    public IReadOnlyList<string> Requests
    {
        get
        {
            lock (requests)
            {
                return [.. requests];
            }
        }
    }

    /// <summary>Forgets the requests seen so far.</summary>
    public void ClearRequests()
    {
        lock (requests)
        {
            requests.Clear();
        }
    }

    /// <summary>UploadPartCopy requests answered.</summary>
    public int CopiesServed => Volatile.Read(ref copiesServed);

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
        forward.Dispose();
        direct.Dispose();
    }

    private static bool IsUploadPart(HttpRequest request) =>
        request.Method == "PUT" && request.Query.ContainsKey("uploadId") && request.Query.ContainsKey("partNumber");

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        lock (requests)
        {
            requests.Add($"{request.Method} {request.Path}{request.QueryString}{(request.Headers.ContainsKey("x-amz-copy-source") ? " [copy]" : string.Empty)}");
        }

        if (Fault?.Invoke(request) is { } status)
        {
            context.Response.StatusCode = status;
            context.Response.ContentType = "application/xml";
            var code = status switch { 503 => "SlowDown", 429 => "TooManyRequests", _ => "InternalError" };
            await context.Response.WriteAsync($"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error>");
            return;
        }

        if (RefuseFlexibleChecksums && request.Headers.Keys.Any(h => h.StartsWith("x-amz-checksum-", StringComparison.OrdinalIgnoreCase) || h.Equals("x-amz-sdk-checksum-algorithm", StringComparison.OrdinalIgnoreCase)))
        {
            context.Response.StatusCode = 400;
            context.Response.ContentType = "application/xml";
            await context.Response.WriteAsync("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InvalidArgument</Code><Message>Unsupported header x-amz-checksum</Message></Error>");
            return;
        }

        if (BeforeForward is { } hook)
        {
            await hook(request);
        }

        if (request.Method == "DELETE" && request.Query["uploadId"] is [{ } uploadId])
        {
            if (server.AbortUpload(uploadId))
            {
                context.Response.StatusCode = 204;
                return;
            }

            context.Response.StatusCode = 404;
            context.Response.ContentType = "application/xml";
            await context.Response.WriteAsync("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>");
            return;
        }

        if (EmulateUploadPartCopy && IsUploadPart(request) && request.Headers.ContainsKey("x-amz-copy-source"))
        {
            await CopyPartAsync(context);
            return;
        }

        if (IsUploadPart(request) && request.ContentLength is { } partLength)
        {
            partSizes[(request.Query["uploadId"].ToString(), int.Parse(request.Query["partNumber"]!, CultureInfo.InvariantCulture))] = partLength;
        }
        else if (request.Method == "POST" && request.Query["uploadId"] is [{ } completed] && TooSmallPart(completed) is { } small)
        {
            // S3 refuses to complete an upload with a part under 5 MiB before its last; s3rver does not check.
            context.Response.StatusCode = 400;
            context.Response.ContentType = "application/xml";
            await context.Response.WriteAsync($"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>EntityTooSmall</Code><Message>Your proposed upload is smaller than the minimum allowed size (part {small})</Message></Error>");
            return;
        }

        using var message = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(target, request.Path + request.QueryString));
        if (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            message.Content = new StreamContent(request.Body);
        }

        foreach (var (name, values) in request.Headers)
        {
            if (!message.Headers.TryAddWithoutValidation(name, values.ToArray()))
            {
                message.Content?.Headers.TryAddWithoutValidation(name, values.ToArray());
            }
        }

        message.Headers.Host = request.Host.Value;
        HttpResponseMessage response;
        try
        {
            response = await forward.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        }
        catch (HttpRequestException)
        {
            context.Abort(); // the server behind is gone: the client sees a dropped connection
            return;
        }

        using (response)
        {
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            {
                if (CorruptPutETags && request.Method == "PUT" && string.Equals(name, "ETag", StringComparison.OrdinalIgnoreCase))
                {
                    context.Response.Headers[name] = "\"0123456789abcdef0123456789abcdef\"";
                }
                else if (!string.Equals(name, "Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
                {
                    context.Response.Headers[name] = values.ToArray();
                }
            }

            await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
        }
    }

    private async Task CopyPartAsync(HttpContext context)
    {
        var request = context.Request;
        var source = Uri.UnescapeDataString(request.Headers["x-amz-copy-source"].ToString()).TrimStart('/');
        var slash = source.IndexOf('/', StringComparison.Ordinal);
        var range = request.Headers["x-amz-copy-source-range"].ToString()["bytes=".Length..].Split('-');
        var (first, last) = (long.Parse(range[0], CultureInfo.InvariantCulture), long.Parse(range[1], CultureInfo.InvariantCulture));
        var ifMatch = request.Headers["x-amz-copy-source-if-match"].ToString();
        var path = request.Path.Value!.TrimStart('/');
        var bucket = path[..path.IndexOf('/', StringComparison.Ordinal)];
        var key = Uri.UnescapeDataString(path[(bucket.Length + 1)..]);
        UploadPartResponse uploaded;

        // Through a temporary file: a part may be up to 5 GiB, more than one array holds.
        var spool = Path.GetTempFileName();
        try
        {
            await using var bytes = new FileStream(spool, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 20, FileOptions.DeleteOnClose);
            try
            {
                using var part = await direct.GetObjectAsync(new GetObjectRequest
                {
                    BucketName = source[..slash],
                    Key = source[(slash + 1)..],
                    ByteRange = new ByteRange(first, last),
                    EtagToMatch = string.IsNullOrEmpty(ifMatch) ? null : ifMatch,
                });
                await part.ResponseStream.CopyToAsync(bytes);
                bytes.Position = 0;
            }
            catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.PreconditionFailed)
            {
                context.Response.StatusCode = 412;
                await context.Response.WriteAsync("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>");
                return;
            }

            uploaded = await direct.UploadPartAsync(new UploadPartRequest
            {
                BucketName = bucket,
                Key = key,
                UploadId = request.Query["uploadId"],
                PartNumber = int.Parse(request.Query["partNumber"]!, CultureInfo.InvariantCulture),
                InputStream = bytes,
                UseChunkEncoding = false,
            });
        }
        finally
        {
            File.Delete(spool);
        }

        partSizes[(request.Query["uploadId"].ToString(), int.Parse(request.Query["partNumber"]!, CultureInfo.InvariantCulture))] = last - first + 1;
        Interlocked.Increment(ref copiesServed);
        var etag = CorruptCopyETags ? "\"" + Convert.ToHexStringLower(MD5.HashData("wrong"u8)) + "\"" : uploaded.ETag;
        context.Response.ContentType = "application/xml";
        await context.Response.WriteAsync($"<?xml version=\"1.0\" encoding=\"UTF-8\"?><CopyPartResult><LastModified>{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ}</LastModified><ETag>{WebUtility.HtmlEncode(etag)}</ETag></CopyPartResult>");
    }

    // The first part under S3's 5 MiB minimum that is not the upload's last, or null.
    private int? TooSmallPart(string uploadId)
    {
        var parts = partSizes.Where(p => p.Key.UploadId == uploadId).OrderBy(p => p.Key.Part).ToList();
        return parts.SkipLast(1).Where(p => p.Value < 5L * 1024 * 1024).Select(p => (int?)p.Key.Part).FirstOrDefault();
    }
}
