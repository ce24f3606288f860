using TorchFerry.Format.Archive;

namespace TorchFerry.Format.Conversion;

/// <summary>
/// Where a relocated archive is written, front to back. A sink may copy a range of the source
/// itself, without the bytes passing through this process: the kernel for file to file, the
/// store for an object copied within one object store.
/// </summary>
public interface IArchiveSink
{
    /// <summary>Bytes written so far.</summary>
    long Position { get; }

    /// <summary>
    /// Whether reading a range back from the source after <see cref="TryCopyRangeAsync"/> is cheap
    /// (local disk), so CRCs are still checked; false for object stores, where reading would move
    /// the very bytes the copy saved.
    /// </summary>
    bool CanVerifyCopies { get; }

    /// <summary>
    /// What a range copied by the sink must be moved by for the sink to share it rather than copy it
    /// (a file system's block size for clones); torch's 64-byte record alignment otherwise.
    /// </summary>
    int CopyAlignment => TorchZipLayout.Alignment;

    /// <summary>Bytes of ranges the sink shares with the source (cloned extents) rather than copied.</summary>
    long BytesCloned => 0;

    /// <summary>
    /// Appends <paramref name="length"/> bytes of <paramref name="source"/> from <paramref name="offset"/>
    /// by sharing the source's blocks (a clone: nothing read or written) if the sink can; false, with
    /// nothing appended, if not.
    /// </summary>
    ValueTask<bool> TryShareRangeAsync(IRandomAccessSource source, long offset, long length, CancellationToken cancellationToken) => ValueTask.FromResult(false);

    /// <summary>Appends bytes.</summary>
    ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>Appends <paramref name="length"/> bytes of <paramref name="source"/> from <paramref name="offset"/> if the sink can copy them itself; false (and nothing appended) if not.</summary>
    ValueTask<bool> TryCopyRangeAsync(IRandomAccessSource source, long offset, long length, CancellationToken cancellationToken);
}
