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

    /// <summary>
    /// The offloaded literals of <paramref name="literalMap"/> (<c>Literal.offloaded_metadata</c>: flytekit
    /// writes a large literal to a file of its own), with their paths, in a stable order.
    /// </summary>
    /// <exception cref="InvalidDataException">The bytes are not a LiteralMap.</exception>
    public static IReadOnlyList<OffloadedLiteral> FindOffloaded(ReadOnlySpan<byte> literalMap)
    {
        var found = new List<OffloadedLiteral>();
        new Walker(null, null, (path, offloaded) => found.Add(new OffloadedLiteral(path, offloaded.Uri))).Visit(Parse(literalMap));
        return found;
    }

    /// <summary>Checks that an offloaded literal's file is a serialized Literal, so that one bad file can be left out alone.</summary>
    /// <exception cref="InvalidDataException">It is not.</exception>
    public static void ValidateOffloaded(string uri, byte[] file) => ParseLiteral(file, uri);

    /// <summary>
    /// Every PyTorch blob in <paramref name="literalMap"/> (serialized), in a stable order, and in the
    /// offloaded literals whose files are given in <paramref name="offloaded"/> (serialized Literals by URI).
    /// </summary>
    /// <param name="literalMap">The serialized LiteralMap.</param>
    /// <param name="offloaded">Files of offloaded literals to follow, by URI.</param>
    /// <param name="byContent">
    /// Also every single blob of another format (a <c>FlyteFile</c>: <c>""</c>, <c>pt</c>, <c>ckpt</c>, <c>csv</c>, ...),
    /// whose content decides whether it is a torch.save archive (<see cref="PyTorchBlob.ByFormat"/> is false for them),
    /// and every MULTIPART blob (a <c>FlyteDirectory</c>, <see cref="PyTorchBlob.IsDirectory"/>), whose members' contents decide.
    /// </param>
    /// <exception cref="InvalidDataException">The bytes are not a LiteralMap, or a given file not a Literal.</exception>
    public static IReadOnlyList<PyTorchBlob> FindPyTorchBlobs(ReadOnlySpan<byte> literalMap, IReadOnlyDictionary<string, byte[]>? offloaded = null, bool byContent = false)
    {
        var found = new List<PyTorchBlob>();
        new Walker((path, blob) =>
        {
            found.Add(Found(path, blob));
            return null;
        }, offloaded, null)
        {
            ByContent = byContent,
        }.Visit(Parse(literalMap));
        return found;
    }

    /// <summary>
    /// The map with each PyTorch blob's URI replaced by <paramref name="newUri"/>'s answer (null keeps
    /// it), and how many were replaced.
    /// </summary>
    public static (byte[] LiteralMap, int Replaced) RewritePyTorchBlobs(ReadOnlySpan<byte> literalMap, Func<PyTorchBlob, string?> newUri)
    {
        var rewrite = RewritePyTorchBlobs(literalMap, newUri, offloaded: null, offloadedUri: _ => throw new InvalidOperationException("no offloaded literal is followed"));
        return (rewrite.LiteralMap, rewrite.Replaced);
    }

    /// <summary>
    /// The map with each PyTorch blob's URI replaced by <paramref name="newUri"/>'s answer (null keeps
    /// it), following the offloaded literals whose files are given in <paramref name="offloaded"/>: one
    /// in which a blob changed is written anew (<see cref="LiteralMapRewrite.Offloaded"/>, at
    /// <paramref name="offloadedUri"/>'s answer) and the map points at it with its new size; its type,
    /// hash and metadata stay. With <paramref name="byContent"/>, single blobs of every format are offered.
    /// </summary>
    public static LiteralMapRewrite RewritePyTorchBlobs(
        ReadOnlySpan<byte> literalMap,
        Func<PyTorchBlob, string?> newUri,
        IReadOnlyDictionary<string, byte[]>? offloaded,
        Func<OffloadedLiteral, string> offloadedUri,
        bool byContent = false)
    {
        ArgumentNullException.ThrowIfNull(newUri);
        ArgumentNullException.ThrowIfNull(offloadedUri);
        var map = Parse(literalMap);
        var replaced = 0;
        var walker = new Walker((path, blob) =>
        {
            var uri = newUri(Found(path, blob));
            if (uri is not null && uri != blob.Uri)
            {
                replaced++;
                return uri;
            }

            return null;
        }, offloaded, null)
        {
            OffloadedUri = offloadedUri,
            ByContent = byContent,
        };
        walker.Visit(map);
        return new LiteralMapRewrite(map.ToByteArray(), replaced, walker.Written);
    }

    private static PyTorchBlob Found(string path, Blob blob) =>
        new(path, blob.Metadata.Type.Format, blob.Uri) { IsDirectory = blob.Metadata.Type.Dimensionality == BlobType.Types.BlobDimensionality.Multipart };

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

    private static Literal ParseLiteral(byte[] bytes, string uri)
    {
        try
        {
            return Literal.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{uri}: not a Flyte Literal: {e.Message}", e);
        }
    }

    // One walk of a map: PyTorch blobs to report or repoint, offloaded literals to report or follow
    // (one level: flytekit never offloads inside an offloaded literal).
    private sealed class Walker(
        Func<string, Blob, string?>? onBlob,
        IReadOnlyDictionary<string, byte[]>? offloaded,
        Action<string, LiteralOffloadedMetadata>? onOffloaded)
    {
        public Func<OffloadedLiteral, string>? OffloadedUri { get; init; }

        public bool ByContent { get; init; }

        public List<OffloadedFile> Written { get; } = [];

        public void Visit(LiteralMap map) => Visit(map, string.Empty, 0, followOffloaded: true);

        private void Visit(LiteralMap map, string prefix, int depth, bool followOffloaded)
        {
            // Sorted keys: protobuf map order is unspecified, paths and results should not be.
            foreach (var key in map.Literals.Keys.Order(StringComparer.Ordinal))
            {
                Visit(map.Literals[key], prefix.Length == 0 ? key : $"{prefix}.{key}", depth + 1, followOffloaded);
            }
        }

        // Returns whether a blob under the literal was repointed.
        private bool Visit(Literal literal, string path, int depth, bool followOffloaded)
        {
            if (depth > MaxDepth)
            {
                throw new InvalidDataException($"Flyte literal nests deeper than {MaxDepth} levels at '{path}'");
            }

            var changed = false;
            switch (literal.ValueCase)
            {
                case Literal.ValueOneofCase.Scalar:
                    var scalar = literal.Scalar;
                    if (scalar.ValueCase == Scalar.ValueOneofCase.Blob && scalar.Blob.Metadata?.Type is { } type
                        && (type.Dimensionality == BlobType.Types.BlobDimensionality.Single ? ByContent || PyTorchFormats.Contains(type.Format) : ByContent))
                    {
                        if (onBlob?.Invoke(path, scalar.Blob) is { } uri)
                        {
                            scalar.Blob.Uri = uri;
                            changed = true;
                        }
                    }
                    else if (scalar.ValueCase == Scalar.ValueOneofCase.Union && scalar.Union.Value is { } inner)
                    {
                        changed = Visit(inner, path, depth + 1, followOffloaded);
                    }

                    break;
                case Literal.ValueOneofCase.Collection:
                    for (var i = 0; i < literal.Collection.Literals.Count; i++)
                    {
                        changed |= Visit(literal.Collection.Literals[i], $"{path}[{i}]", depth + 1, followOffloaded);
                    }

                    break;
                case Literal.ValueOneofCase.Map:
                    foreach (var key in literal.Map.Literals.Keys.Order(StringComparer.Ordinal))
                    {
                        changed |= Visit(literal.Map.Literals[key], $"{path}.{key}", depth + 1, followOffloaded);
                    }

                    break;
                case Literal.ValueOneofCase.OffloadedMetadata when followOffloaded:
                    var metadata = literal.OffloadedMetadata;
                    onOffloaded?.Invoke(path, metadata);
                    if (offloaded is not null && offloaded.TryGetValue(metadata.Uri, out var file))
                    {
                        var content = ParseLiteral(file, metadata.Uri);
                        if (Visit(content, path, depth + 1, followOffloaded: false))
                        {
                            var bytes = content.ToByteArray();
                            var target = OffloadedUri!(new OffloadedLiteral(path, metadata.Uri));
                            Written.Add(new OffloadedFile(target, bytes));
                            metadata.Uri = target;
                            metadata.SizeBytes = (ulong)bytes.Length;
                            changed = true;
                        }
                    }

                    break;
            }

            return changed;
        }
    }
}
