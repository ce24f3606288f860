using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace TorchFerry.Operator.Flyte;

/// <summary>Deterministic resource names for blobs: the same URI always names the same artifact.</summary>
internal static partial class ArtifactNames
{
    /// <summary>
    /// A DNS-1123 name from the URI alone (producer and consumers must meet on it): the file name
    /// for people, then 16 hex digits of the URI's SHA-256.
    /// </summary>
    public static string For(string uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(uri)))[..16];
        var file = uri.TrimEnd('/')[(uri.TrimEnd('/').LastIndexOf('/') + 1)..];
        var stem = file.Contains('.', StringComparison.Ordinal) ? file[..file.LastIndexOf('.')] : file;
        var readable = Invalid().Replace(stem.ToLowerInvariant(), "-").Trim('-');
        readable = readable.Length > 40 ? readable[..40].Trim('-') : readable;
        return readable.Length == 0 ? $"tf-{hash}" : $"{readable}-{hash}";
    }

    [GeneratedRegex("[^a-z0-9-]+", RegexOptions.CultureInvariant)]
    private static partial Regex Invalid();
}
