namespace TorchFerry.Format.Conversion;

/// <summary>How a conversion copies records.</summary>
public sealed record RelocationOptions
{
    /// <summary>
    /// Check every copied record against its CRC-32 (torch itself does not). On by default; a
    /// corrupt source then fails the conversion instead of yielding an equally corrupt copy.
    /// </summary>
    public bool VerifyChecksums { get; init; } = true;

    /// <summary>
    /// Also check records the destination shares with the source (cloned extents) against their
    /// CRC-32. Off by default: a clone is the source's own blocks, so the check would read the whole
    /// source to learn only whether the source was already corrupt.
    /// </summary>
    public bool VerifyClones { get; init; }

    /// <summary>
    /// Flush a local destination to disk (fsync) before renaming it into place, so that after a
    /// crash the destination is the old file or the whole new one. On by default.
    /// </summary>
    public bool Durable { get; init; } = true;

    /// <summary>
    /// Turn user objects (dataclasses, NamedTuples, dict and list subclasses) into the plain values
    /// they hold so that the result loads with <c>torch.load(weights_only=True)</c>, torch's default
    /// from 2.6; refuse, converting nothing, where that would lose data. Off by default.
    /// </summary>
    public bool WeightsOnly { get; init; }

    /// <summary>Stored records at least this large are copied file to file by the kernel.</summary>
    public long KernelCopyThreshold { get; init; } = 64 * 1024;

    /// <summary>The defaults.</summary>
    public static RelocationOptions Default { get; } = new();
}
