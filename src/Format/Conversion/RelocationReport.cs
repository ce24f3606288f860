namespace TorchFerry.Format.Conversion;

/// <summary>What a conversion did.</summary>
/// <param name="Storages">Storages in the archive.</param>
/// <param name="StoragesRelocated">Storages whose location changed.</param>
/// <param name="LocationsBefore">Storages per location in the source.</param>
/// <param name="LocationsAfter">Storages per location in the result.</param>
/// <param name="BytesWritten">Size of the written archive.</param>
/// <param name="RecordBytesCopied">Bytes of records other than data.pkl copied through unchanged.</param>
public sealed record RelocationReport(
    int Storages,
    int StoragesRelocated,
    IReadOnlyDictionary<string, int> LocationsBefore,
    IReadOnlyDictionary<string, int> LocationsAfter,
    long BytesWritten,
    long RecordBytesCopied)
{
    /// <summary>Of <see cref="RecordBytesCopied"/>, bytes the destination shares with the source (cloned extents, no data moved).</summary>
    public long RecordBytesCloned { get; init; }

    /// <summary>With <see cref="RelocationOptions.WeightsOnly"/>: each class turned into plain values (<c>module.Class → dict (2 objects)</c>); otherwise null.</summary>
    public IReadOnlyList<string>? WeightsOnlyChanges { get; init; }

    /// <summary>True when every storage already was where the map sends it; the result is still a valid copy.</summary>
    public bool AlreadyOnTarget => StoragesRelocated == 0;
}
