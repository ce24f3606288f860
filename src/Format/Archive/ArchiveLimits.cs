namespace TorchFerry.Format.Archive;

/// <summary>
/// Bounds that keep a hostile or corrupt archive from exhausting memory or disk. The defaults fit
/// real checkpoints by a wide margin.
/// </summary>
public sealed record ArchiveLimits
{
    /// <summary>
    /// Largest <c>data.pkl</c> accepted (it is held in memory with the graph it builds, itself at most
    /// two million objects). A state dict needs about 150 bytes a tensor, so 16 MiB is some 100,000
    /// tensors; with the other bounds, any archive is read within a 256 MiB container.
    /// </summary>
    public long MaxPickleBytes { get; init; } = 16L * 1024 * 1024;

    /// <summary>Largest central directory accepted (it is held in memory).</summary>
    public long MaxCentralDirectoryBytes { get; init; } = 32L * 1024 * 1024;

    /// <summary>Most records accepted in one archive (one per storage, plus a few).</summary>
    public long MaxEntries { get; init; } = 300_000;

    /// <summary>
    /// Highest ratio of expanded to compressed bytes accepted for deflated records; applies once
    /// the expanded total exceeds <see cref="ExpansionAllowance"/>. Deflate tops out near 1032:1,
    /// so anything above this is a zip bomb or a tensor of constants worth refusing.
    /// </summary>
    public double MaxExpansionRatio { get; init; } = 200;

    /// <summary>Expanded bytes of deflated records always accepted whatever their ratio.</summary>
    public long ExpansionAllowance { get; init; } = 64L * 1024 * 1024;

    /// <summary>The defaults.</summary>
    public static ArchiveLimits Default { get; } = new();
}
