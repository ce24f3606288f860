namespace TorchFerry.Storage;

/// <summary>
/// Where an artifact lives: a local path (also <c>file://</c>) or an S3 object (<c>s3://bucket/key</c>).
/// <see cref="ToString"/> gives the canonical form, safe to log (it never holds a credential).
/// </summary>
public sealed record StorageUri
{
    private StorageUri(StorageScheme scheme, string bucket, string key)
    {
        Scheme = scheme;
        Bucket = bucket;
        Key = key;
    }

    public StorageScheme Scheme { get; }

    /// <summary>The bucket (S3); empty for local files.</summary>
    public string Bucket { get; }

    /// <summary>The object key (S3) or the absolute path (local).</summary>
    public string Key { get; }

    /// <summary>Parses a path, <c>file://</c> URI or <c>s3://bucket/key</c>.</summary>
    /// <exception cref="ArgumentException">The text names no object, or a scheme TorchFerry does not read.</exception>
    public static StorageUri Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        if (text.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
        {
            var rest = text[5..];
            var slash = rest.IndexOf('/', StringComparison.Ordinal);
            if (slash <= 0 || slash == rest.Length - 1)
            {
                throw new ArgumentException($"'{text}': an S3 URI needs a bucket and a key, s3://bucket/key", nameof(text));
            }

            return new StorageUri(StorageScheme.S3, rest[..slash], rest[(slash + 1)..]);
        }

        if (text.StartsWith("file://", StringComparison.OrdinalIgnoreCase))
        {
            var uri = new Uri(text);
            if (!string.IsNullOrEmpty(uri.Host) && uri.Host != "localhost")
            {
                throw new ArgumentException($"'{text}': file URIs on other hosts are not supported", nameof(text));
            }

            // Not LocalPath: .NET reads file://localhost/x as the UNC path \\localhost\x.
            return Local(Uri.UnescapeDataString(uri.AbsolutePath));
        }

        if (text.Contains("://", StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{text}': unsupported scheme; use a path, file:// or s3://", nameof(text));
        }

        return Local(text);
    }

    /// <summary>A local file.</summary>
    public static StorageUri Local(string path) => new(StorageScheme.File, string.Empty, Path.GetFullPath(path));

    /// <summary>An S3 object.</summary>
    public static StorageUri S3(string bucket, string key) => new(StorageScheme.S3, bucket, key);

    /// <summary>A sibling object: same folder (prefix), another name.</summary>
    public StorageUri WithName(string name) => Scheme == StorageScheme.S3
        ? S3(Bucket, (Key.Contains('/', StringComparison.Ordinal) ? Key[..(Key.LastIndexOf('/') + 1)] : string.Empty) + name)
        : Local(Path.Combine(Path.GetDirectoryName(Key)!, name));

    /// <summary>The last path segment.</summary>
    public string Name => Scheme == StorageScheme.S3 ? Key[(Key.LastIndexOf('/') + 1)..] : Path.GetFileName(Key);

    /// <summary>The URI form (<c>file:///path</c> for local files), as written into resources.</summary>
    public string ToUriString() => Scheme == StorageScheme.S3 ? ToString() : "file://" + Key;

    public override string ToString() => Scheme == StorageScheme.S3 ? $"s3://{Bucket}/{Key}" : Key;
}

/// <summary>The kinds of store TorchFerry reads and writes.</summary>
public enum StorageScheme
{
    /// <summary>Local files, the embedded default.</summary>
    File,

    /// <summary>Amazon S3 or an S3-compatible store.</summary>
    S3,
}
