namespace TorchFerry.Flyte;

/// <summary>What a rewrite of a LiteralMap that follows offloaded literals made (<c>FlyteLiterals.RewritePyTorchBlobs</c>).</summary>
/// <param name="LiteralMap">The serialized map.</param>
/// <param name="Replaced">Blob URIs replaced, offloaded ones included.</param>
/// <param name="Offloaded">Offloaded literals written anew, which the map now points at.</param>
public sealed record LiteralMapRewrite(byte[] LiteralMap, int Replaced, IReadOnlyList<OffloadedFile> Offloaded);
