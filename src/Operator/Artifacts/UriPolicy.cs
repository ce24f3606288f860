using TorchFerry.Storage;

namespace TorchFerry.Operator.Artifacts;

/// <summary>
/// Which URIs each namespace's artifacts may read and write: a list of prefixes per namespace, and
/// a default list under "*". Anything else is refused before it is touched. Where variants are laid
/// under a prefix, a location there follows the rules of its key without the prefix: a namespace
/// may touch the variants of what it may touch, and nothing else under the prefix.
/// </summary>
internal sealed class UriPolicy(IReadOnlyDictionary<string, IReadOnlyList<string>> prefixes, VariantLayout? variants = null)
{
    public const string AnyNamespace = "*";

    /// <summary>Where variants go.</summary>
    public VariantLayout Variants { get; } = variants ?? VariantLayout.Beside;

    /// <summary>Whether <paramref name="uri"/> lies under a prefix allowed for <paramref name="namespace"/>.</summary>
    public bool Allows(string @namespace, StorageUri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        return AllowsAsIs(@namespace, uri) || (Variants.Unprefixed(uri) is { } place && AllowsAsIs(@namespace, place));
    }

    private bool AllowsAsIs(string @namespace, StorageUri uri)
    {
        var text = uri.Scheme == StorageScheme.File ? "file://" + uri.Key : uri.ToString();

        // A key with a ".." segment could be read as leaving the prefix by a store that normalises paths.
        if (text.Split('/').Any(segment => segment == ".."))
        {
            return false;
        }

        return For(@namespace).Any(prefix => text.StartsWith(prefix, StringComparison.Ordinal)
            && (prefix.EndsWith('/') || text.Length == prefix.Length || text[prefix.Length] == '/'));
    }

    /// <summary>Throws <see cref="StorageException"/> (Forbidden) unless <paramref name="uri"/> is allowed.</summary>
    public void EnsureAllowed(string @namespace, StorageUri uri)
    {
        if (!Allows(@namespace, uri))
        {
            throw new StorageException(StorageErrorKind.Forbidden, $"{uri}: outside the prefixes namespace '{@namespace}' may use; not touched");
        }
    }

    private IEnumerable<string> For(string @namespace) =>
        (prefixes.TryGetValue(@namespace, out var own) ? own : []).Concat(prefixes.TryGetValue(AnyNamespace, out var any) ? any : []);
}
