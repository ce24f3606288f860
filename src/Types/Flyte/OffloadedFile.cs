namespace TorchFerry.Flyte;

/// <summary>An offloaded literal written anew because a blob in it was repointed: to be stored before the map that points at it.</summary>
/// <param name="Uri">Where it goes.</param>
/// <param name="Literal">The serialized Literal.</param>
public sealed record OffloadedFile(string Uri, byte[] Literal);
