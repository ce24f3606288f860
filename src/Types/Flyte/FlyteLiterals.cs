using Google.Protobuf;
using TorchFerry.Flyte.Wire;

namespace TorchFerry.Flyte;

/// <summary>
/// Reads and rewrites Flyte <c>LiteralMap</c>s (inputs.pb, outputs.pb) in Flyte's wire format:
/// finds PyTorch blobs anywhere (scalars, collections, maps, unions) and points them elsewhere,
/// keeping every other field byte for byte in meaning.
/// </summary>
public static class FlyteLiterals
{
    /// <summary>The blob formats flytekit writes with torch.save.</summary>
    public static readonly IReadOnlySet<string> PyTorchFormats = new HashSet<string>(StringComparer.Ordinal) { "PyTorchTensor", "PyTorchModule", "PyTorchCheckpoint" };

    private const int MaxDepth = 64;

    /// <summary>Every PyTorch blob in <paramref name="literalMap"/> (serialized), in a stable order.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a LiteralMap.</exception>
    public static IReadOnlyList<PyTorchBlob> FindPyTorchBlobs(ReadOnlySpan<byte> literalMap)
    {
        var map = Parse(literalMap);
        var found = new List<PyTorchBlob>();
        Visit(map, string.Empty, 0, (path, blob) =>
        {
            found.Add(new PyTorchBlob(path, blob.Metadata.Type.Format, blob.Uri));
            return null;
        });
        return found;
    }

    /// <summary>
    /// The map with each PyTorch blob's URI replaced by <paramref name="newUri"/>'s answer (null keeps
    /// it), and how many were replaced.
    /// </summary>
    public static (byte[] LiteralMap, int Replaced) RewritePyTorchBlobs(ReadOnlySpan<byte> literalMap, Func<PyTorchBlob, string?> newUri)
    {
        ArgumentNullException.ThrowIfNull(newUri);
        var map = Parse(literalMap);
        var replaced = 0;
        Visit(map, string.Empty, 0, (path, blob) =>
        {
            var uri = newUri(new PyTorchBlob(path, blob.Metadata.Type.Format, blob.Uri));
            if (uri is not null && uri != blob.Uri)
            {
                replaced++;
                return uri;
            }

            return null;
        });
        return (map.ToByteArray(), replaced);
    }

    private static LiteralMap Parse(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return LiteralMap.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"not a Flyte LiteralMap: {e.Message}", e);
        }
    }

    private static void Visit(LiteralMap map, string prefix, int depth, Func<string, Blob, string?> onBlob)
    {
        // Sorted keys: protobuf map order is unspecified, paths and results should not be.
        foreach (var key in map.Literals.Keys.Order(StringComparer.Ordinal))
        {
            Visit(map.Literals[key], prefix.Length == 0 ? key : $"{prefix}.{key}", depth + 1, onBlob);
        }
    }

    private static void Visit(Literal literal, string path, int depth, Func<string, Blob, string?> onBlob)
    {
        if (depth > MaxDepth)
        {
            throw new InvalidDataException($"Flyte literal nests deeper than {MaxDepth} levels at '{path}'");
        }

        switch (literal.ValueCase)
        {
            case Literal.ValueOneofCase.Scalar:
                var scalar = literal.Scalar;
                if (scalar.ValueCase == Scalar.ValueOneofCase.Blob && scalar.Blob.Metadata?.Type is { } type && PyTorchFormats.Contains(type.Format)
                    && type.Dimensionality == BlobType.Types.BlobDimensionality.Single)
                {
                    if (onBlob(path, scalar.Blob) is { } uri)
                    {
                        scalar.Blob.Uri = uri;
                    }
                }
                else if (scalar.ValueCase == Scalar.ValueOneofCase.Union && scalar.Union.Value is { } inner)
                {
                    Visit(inner, path, depth + 1, onBlob);
                }

                break;
            case Literal.ValueOneofCase.Collection:
                for (var i = 0; i < literal.Collection.Literals.Count; i++)
                {
                    Visit(literal.Collection.Literals[i], $"{path}[{i}]", depth + 1, onBlob);
                }

                break;
            case Literal.ValueOneofCase.Map:
                Visit(literal.Map, path, depth + 1, onBlob);
                break;
        }
    }
}
