using System.Globalization;

namespace TorchFerry.Storage.S3;

/// <summary>
/// How TorchFerry talks to S3 or an S3-compatible store. Credentials come from the standard AWS
/// chain (environment, profile, web identity/IRSA, instance role), else from flytekit's variables;
/// they never appear in messages or logs.
/// </summary>
public sealed record S3StoreOptions
{
    /// <summary>The smallest part S3 accepts, except the last.</summary>
    public const long MinimumPartSize = 5L * 1024 * 1024;

    /// <summary>The largest part S3 accepts, uploaded or copied.</summary>
    public const long MaximumPartSize = 5L * 1024 * 1024 * 1024;

    /// <summary>A custom endpoint (MinIO, Ceph, ...); addressing is path-style when set.</summary>
    public Uri? Endpoint { get; init; }

    public string Region { get; init; } = "us-east-1";

    /// <summary>
    /// Bytes per uploaded part; objects smaller than this are written with one PUT. Two part
    /// buffers are held (one filling, one uploading), so memory grows with twice this.
    /// </summary>
    public long PartSize { get; init; } = 8L * 1024 * 1024;

    /// <summary>
    /// The SDK's aws-chunked upload encoding. Off by default for custom endpoints: several
    /// S3-compatible stores (s3rver among them) store the chunk framing as object bytes.
    /// </summary>
    public bool? UseChunkEncoding { get; init; }

    /// <summary>Send request checksums only when the operation requires them (compatible stores often reject the newer defaults).</summary>
    public bool ChecksumsWhenRequired { get; init; } = true;

    /// <summary>Retries for throttling, 5xx and transient network errors (the SDK's standard mode, with backoff).</summary>
    public int MaxErrorRetry { get; init; } = 5;

    /// <summary>Per-request timeout.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Use UploadPartCopy for large ranges within the store when it is supported (probed and verified first).</summary>
    public bool ServerSideCopy { get; init; } = true;

    /// <summary>
    /// Bytes per server-side copy part: by default the largest S3 allows (5 GiB), so a conversion
    /// costs the fewest requests (10 GiB of records: two copy parts).
    /// </summary>
    public long CopyPartSize { get; init; } = MaximumPartSize;

    /// <summary>
    /// Server-side copy parts of one object in flight at once. S3 copies each part at its own pace
    /// on its side; parts issued together finish together instead of one after another.
    /// </summary>
    public int CopyConcurrency { get; init; } = 4;

    /// <summary>Explicit credentials (flytekit's variables, tests); null uses the standard AWS chain.</summary>
    public (string AccessKey, string SecretKey)? Credentials { get; init; }

    /// <summary>
    /// Options from the standard variables: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS_REGION,
    /// AWS_DEFAULT_REGION, and TorchFerry's TORCHFERRY_S3_PART_SIZE_MIB, TORCHFERRY_S3_SERVER_SIDE_COPY
    /// (true/false), TORCHFERRY_S3_COPY_PART_SIZE_MIB, TORCHFERRY_S3_COPY_CONCURRENCY,
    /// TORCHFERRY_S3_CHUNK_ENCODING (true/false). Where those are absent, flytekit's own
    /// FLYTE_AWS_ENDPOINT, FLYTE_AWS_ACCESS_KEY_ID and FLYTE_AWS_SECRET_ACCESS_KEY are used: Flyte
    /// sets them on task pods (the sandbox's MinIO, for one), and the prepare-inputs init container
    /// runs with the task's environment.
    /// </summary>
    public static S3StoreOptions FromEnvironment(Func<string, string?>? variables = null)
    {
        variables ??= Environment.GetEnvironmentVariable;
        var endpoint = Value(variables, "AWS_ENDPOINT_URL_S3") ?? Value(variables, "AWS_ENDPOINT_URL") ?? Value(variables, "FLYTE_AWS_ENDPOINT");
        var options = new S3StoreOptions
        {
            Endpoint = endpoint is null ? null : new Uri(endpoint, UriKind.Absolute),
            Region = Value(variables, "AWS_REGION") ?? Value(variables, "AWS_DEFAULT_REGION") ?? "us-east-1",
        };
        if (Value(variables, "AWS_ACCESS_KEY_ID") is null
            && Value(variables, "FLYTE_AWS_ACCESS_KEY_ID") is { } flyteKey
            && Value(variables, "FLYTE_AWS_SECRET_ACCESS_KEY") is { } flyteSecret)
        {
            options = options with { Credentials = (flyteKey, flyteSecret) };
        }

        if (Value(variables, "TORCHFERRY_S3_PART_SIZE_MIB") is { } partSize)
        {
            options = options with { PartSize = long.Parse(partSize, CultureInfo.InvariantCulture) * 1024 * 1024 };
        }

        if (Value(variables, "TORCHFERRY_S3_SERVER_SIDE_COPY") is { } copy)
        {
            options = options with { ServerSideCopy = bool.Parse(copy) };
        }

        if (Value(variables, "TORCHFERRY_S3_COPY_PART_SIZE_MIB") is { } copyPartSize)
        {
            options = options with { CopyPartSize = long.Parse(copyPartSize, CultureInfo.InvariantCulture) * 1024 * 1024 };
        }

        if (Value(variables, "TORCHFERRY_S3_COPY_CONCURRENCY") is { } copyConcurrency)
        {
            options = options with { CopyConcurrency = int.Parse(copyConcurrency, CultureInfo.InvariantCulture) };
        }

        if (Value(variables, "TORCHFERRY_S3_CHUNK_ENCODING") is { } chunked)
        {
            options = options with { UseChunkEncoding = bool.Parse(chunked) };
        }

        options.Validate();
        return options;
    }

    /// <summary>Throws when a value is out of range.</summary>
    public void Validate()
    {
        if (PartSize < MinimumPartSize || PartSize > MaximumPartSize)
        {
            throw new ArgumentException($"S3 part size {PartSize} bytes is outside S3's limits (5 MiB to 5 GiB)", nameof(PartSize));
        }

        if (CopyPartSize < MinimumPartSize || CopyPartSize > MaximumPartSize)
        {
            throw new ArgumentException($"S3 copy part size {CopyPartSize} bytes is outside S3's limits (5 MiB to 5 GiB)", nameof(CopyPartSize));
        }

        if (CopyConcurrency is < 1 or > 64)
        {
            throw new ArgumentException($"S3 copy concurrency {CopyConcurrency} is outside 1 to 64", nameof(CopyConcurrency));
        }

        if (MaxErrorRetry < 0)
        {
            throw new ArgumentException("S3 retries cannot be negative", nameof(MaxErrorRetry));
        }
    }

    internal bool ChunkEncoding => UseChunkEncoding ?? Endpoint is null;

    /// <summary>
    /// Over HTTPS, parts are sent with UNSIGNED-PAYLOAD (TLS and Content-MD5 protect them), which
    /// spares hashing every byte for the signature; the SDK allows it only over HTTPS.
    /// </summary>
    internal bool UnsignedPayloads => Endpoint is null || Endpoint.Scheme == Uri.UriSchemeHttps;

    private static string? Value(Func<string, string?> variables, string name) =>
        variables(name) is { Length: > 0 } value ? value : null;
}
