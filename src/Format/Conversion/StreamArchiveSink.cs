using TorchFerry.Format.Archive;

namespace TorchFerry.Format.Conversion;

/// <summary>
/// A sink over a stream. File to file (a <see cref="FileSource"/> into a <see cref="FileStream"/>),
/// a range lying at the same offset modulo the file system's block size in both files has its
/// whole blocks cloned (FICLONERANGE: the destination shares the source's extents, as
/// <c>cp --reflink</c> does) where the file system can, and the rest copied by the kernel with
/// copy_file_range, as <c>cp</c> does; when the file is to be made durable, writeback of a copied
/// range starts at once so the final fsync overlaps the CRC pass.
/// </summary>
public sealed class StreamArchiveSink(Stream output, long kernelCopyThreshold = 64 * 1024, bool startWriteback = false) : IArchiveSink
{
    private int blockSize = -1;

    public long Position { get; private set; }

    public bool CanVerifyCopies => true;

    public long BytesCloned { get; private set; }

    /// <summary>The destination file system's block size for a file (a range moved by a multiple of it can be cloned), else torch's 64.</summary>
    public int CopyAlignment => Math.Max(TorchZipLayout.Alignment, BlockSize);

    private int BlockSize
    {
        get
        {
            if (blockSize < 0)
            {
                blockSize = output is FileStream file ? KernelCopy.BlockSize(file.SafeFileHandle) : 0;
            }

            return blockSize;
        }
    }

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await output.WriteAsync(data, cancellationToken).ConfigureAwait(false);
        Position += data.Length;
    }

    public async ValueTask<bool> TryCopyRangeAsync(IRandomAccessSource source, long offset, long length, CancellationToken cancellationToken)
    {
        if (source is not FileSource file || output is not FileStream destination || length < kernelCopyThreshold)
        {
            return false;
        }

        cancellationToken.ThrowIfCancellationRequested();
        await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
        var at = destination.Position;
        var cloned = TryCopyCloning(file, offset, destination, at, length, cancellationToken);
        if (cloned < 0)
        {
            return false;
        }

        if (startWriteback && cloned < length)
        {
            KernelCopy.StartWriteback(destination.SafeFileHandle, at, length);
        }

        destination.Seek(length, SeekOrigin.Current);
        Position += length;
        BytesCloned += cloned;
        return true;
    }

    // Bytes cloned (the rest copied by the kernel), or -1 when the kernel copied nothing.
    private long TryCopyCloning(FileSource file, long offset, FileStream destination, long at, long length, CancellationToken cancellationToken)
    {
        var block = BlockSize;
        var start = block > 0 ? AlignUp(offset, block) : 0;
        var end = block > 0 ? (offset + length) / block * block : 0;
        if (block == 0 || (at - offset) % block != 0 || end - start < block)
        {
            return KernelCopy.TryCopy(file.Handle, offset, destination.SafeFileHandle, at, length, cancellationToken) ? 0 : -1;
        }

        // The partial block in front, the whole blocks shared, the partial block behind.
        var head = start - offset;
        if (!KernelCopy.TryCopy(file.Handle, offset, destination.SafeFileHandle, at, head, cancellationToken))
        {
            return -1;
        }

        var cloned = KernelCopy.TryClone(file.Handle, start, destination.SafeFileHandle, at + head, end - start);
        var rest = cloned ? end : start;
        if (!KernelCopy.TryCopy(file.Handle, rest, destination.SafeFileHandle, at + (rest - offset), offset + length - rest, cancellationToken))
        {
            if (head == 0 && !cloned)
            {
                return -1;
            }

            throw new IOException($"copy_file_range stopped working after {rest - offset} of {length} bytes");
        }

        return cloned ? end - start : 0;
    }

    private static long AlignUp(long value, int alignment) => (value + alignment - 1) / alignment * alignment;
}
