namespace TorchFerry.Storage;

/// <summary>
/// Where the variant of an artifact for a device lives. By default beside its source, named after it
/// and the device: <c>s3://b/x/ck.pt</c> for <c>cuda:1</c> gives <c>s3://b/x/ck.torchferry-cuda1.pt</c>.
/// With a prefix, in the same bucket under that prefix with the source's key kept:
/// <c>s3://b/torchferry-variants/x/ck.torchferry-cuda1.pt</c>, so one bucket lifecycle rule on the
/// prefix can expire every variant (S3 lifecycle filters match prefixes, not suffixes) and the bill
/// shows what variants cost. Local files always have theirs beside them. The operator writes variants
/// here and prepare-inputs looks for them here: both are given the same prefix (the chart's
/// <c>variants.prefix</c>); the source's key inside the variant's keeps namespaces' variants apart.
/// </summary>
public sealed class VariantLayout
{
    private VariantLayout(string? prefix) => Prefix = prefix;

    /// <summary>Variants beside their sources.</summary>
    public static VariantLayout Beside { get; } = new(null);

    /// <summary>The bucket-level prefix variants live under (ends with '/'), or null: beside the source.</summary>
    public string? Prefix { get; }

    /// <summary>The layout for <paramref name="prefix"/> (null or empty: beside); throws <see cref="ArgumentException"/> naming a bad one.</summary>
    public static VariantLayout Under(string? prefix)
    {
        if (string.IsNullOrEmpty(prefix))
        {
            return Beside;
        }

        if (Problem(prefix) is { } problem)
        {
            throw new ArgumentException(problem, nameof(prefix));
        }

        return new VariantLayout(prefix.EndsWith('/') ? prefix : prefix + "/");
    }

    /// <summary>
    /// Why <paramref name="prefix"/> cannot be a variant prefix, or null: one or more path segments of
    /// letters, digits and <c>-_.</c>, none of them <c>.</c> or <c>..</c>, no leading '/' (a key never starts with one).
    /// </summary>
    public static string? Problem(string prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var segments = (prefix.EndsWith('/') ? prefix[..^1] : prefix).Split('/');
        var valid = prefix.Length <= 256 && segments.All(s => s.Length > 0 && s != "." && s != ".." && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'));
        return valid ? null : $"variant prefix '{prefix}' must be path segments of letters, digits, '-', '_' and '.' (such as torchferry-variants/), without '..' or a leading '/'";
    }

    /// <summary>The variant of the file <paramref name="source"/> for <paramref name="device"/>.</summary>
    public StorageUri For(StorageUri source, string device)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(device);
        var name = source.Name;
        var dot = name.LastIndexOf('.');
        var beside = source.WithName(dot > 0 ? $"{name[..dot]}.{Tag(device)}{name[dot..]}" : $"{name}.{Tag(device)}");
        return Prefix is null || beside.Scheme != StorageScheme.S3 ? beside : StorageUri.S3(beside.Bucket, Prefix + beside.Key);
    }

    /// <summary>
    /// The variant folder of the folder <paramref name="directory"/> (a URI, with or without its final
    /// '/') for <paramref name="device"/>: <c>s3://b/x/dir/</c> for <c>cuda:1</c> gives <c>s3://b/x/dir.torchferry-cuda1/</c>.
    /// </summary>
    public string FolderFor(string directory, string device)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(device);
        var beside = $"{directory.TrimEnd('/')}.{Tag(device)}/";
        if (Prefix is null || !beside.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
        {
            return beside;
        }

        var uri = StorageUri.Parse(beside);
        return StorageUri.S3(uri.Bucket, Prefix + uri.Key).ToUriString();
    }

    /// <summary>
    /// The location whose access rules a location under the prefix follows: the same key without the
    /// prefix (a namespace may touch the variants of what it may touch). Null for any other location.
    /// </summary>
    public StorageUri? Unprefixed(StorageUri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        return Prefix is not null && uri.Scheme == StorageScheme.S3 && uri.Key.StartsWith(Prefix, StringComparison.Ordinal) && uri.Key.Length > Prefix.Length
            ? StorageUri.S3(uri.Bucket, uri.Key[Prefix.Length..])
            : null;
    }

    private static string Tag(string device) => "torchferry-" + device.Replace(":", string.Empty, StringComparison.Ordinal);
}
