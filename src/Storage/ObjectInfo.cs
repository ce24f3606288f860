namespace TorchFerry.Storage;

/// <summary>What a store says of an object.</summary>
/// <param name="Size">Bytes.</param>
/// <param name="ETag">The store's version tag (for local files, derived from size and modification time).</param>
public sealed record ObjectInfo(long Size, string ETag);
