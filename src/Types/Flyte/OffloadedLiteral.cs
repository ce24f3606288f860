namespace TorchFerry.Flyte;

/// <summary>An offloaded literal of a LiteralMap: where it sits and the file (a serialized Literal) that holds it.</summary>
/// <param name="Path">Its path in the map, as blob paths are written (<c>models</c>, <c>byName.weights</c>).</param>
/// <param name="Uri">The file flytekit wrote it to (<c>&lt;output prefix&gt;/&lt;name&gt;_offloaded_metadata.pb</c>).</param>
public sealed record OffloadedLiteral(string Path, string Uri);
