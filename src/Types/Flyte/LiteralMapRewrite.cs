namespace TorchFerry.Flyte;

/// <summary>What <see cref="FlyteLiterals.RewritePyTorchBlobs(ReadOnlySpan{byte}, Func{PyTorchBlob, string?}, IReadOnlyDictionary{string, byte[]}?, Func{OffloadedLiteral, string})"/> made.</summary>
/// <param name="LiteralMap">The serialized map.</param>
/// <param name="Replaced">Blob URIs replaced, offloaded ones included.</param>
/// <param name="Offloaded">Offloaded literals written anew, which the map now points at.</param>
public sealed record LiteralMapRewrite(byte[] LiteralMap, int Replaced, IReadOnlyList<OffloadedFile> Offloaded);
