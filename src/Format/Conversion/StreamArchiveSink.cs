using TorchFerry.Format.Archive;

namespace TorchFerry.Format.Conversion;

/// <summary>
/// A sink over a stream. File to file (a <see cref="FileSource"/> into a <see cref="FileStream"/>),
/// a range lying at the same offset modulo the file system's block size in both files has its
/// whole blocks cloned (FICLONERANGE: the destination shares the source's extents, as
/// <c>cp --reflink</c> does) where the file system can, and the rest copied by the kernel with
/// copy_file_range, as <c>cp</c> does; when the file is to be made durable, writeback of each copied
/// slice starts at once, so the disk writes while the kernel copies the next and the final fsync
/// has little left to wait for.
/// </summary>
public sealed class StreamArchiveSink(Stream output, long kernelCopyThreshold = 64 * 1024, bool startWriteback = false) : IArchiveSink
{
    private const int KernelCopyAlignment = 64 * 1024;
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

    public async ValueTask<bool> TryShareRangeAsync(IRandomAccessSource source, long offset, long length, CancellationToken cancellationToken)
    {
        var block = BlockSize;
        if (source is not FileSource file || output is not FileStream destination || block == 0)
        {
            return false;
        }

        cancellationToken.ThrowIfCancellationRequested();
        await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
        var at = destination.Position;
        var head = Math.Min(length, Modulo(-at, block));
        var start = offset + head;
        var end = (offset + length) / block * block;
        if ((at - offset) % block != 0 || end - start < block)
        {
            return false; // not laid out alike, or too short to hold a whole block
        }

        // The partial block in front copied, the whole blocks shared, the partial block behind copied;
        // where the file system cannot share, the head is taken back and nothing was appended.
        if (!KernelCopy.TryCopy(file.Handle, offset, destination.SafeFileHandle, at, head, startWriteback, cancellationToken))
        {
            return false;
        }

        if (!KernelCopy.TryClone(file.Handle, start, destination.SafeFileHandle, at + head, end - start))
        {
            destination.SetLength(at);
            return false;
        }

        if (!KernelCopy.TryCopy(file.Handle, end, destination.SafeFileHandle, at + (end - offset), offset + length - end, startWriteback, cancellationToken))
        {
            throw new IOException($"copy_file_range stopped working after {end - offset} of {length} bytes");
        }

        destination.Seek(length, SeekOrigin.Current);
        Position += length;
        BytesCloned += end - start;
        return true;
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

        // A head up to the destination's next 64 KiB boundary first: copy_file_range into a file at a
        // 64 KiB boundary ran 1.6x faster than at a 4 KiB one here (ext4, Linux 6.18: 0.25 s against
        // 0.39 s per GiB).
        var head = Math.Min(length, Modulo(-at, KernelCopyAlignment));
        if (!KernelCopy.TryCopy(file.Handle, offset, destination.SafeFileHandle, at, head, startWriteback, cancellationToken))
        {
            return false;
        }

        if (!KernelCopy.TryCopy(file.Handle, offset + head, destination.SafeFileHandle, at + head, length - head, startWriteback, cancellationToken))
        {
            return head == 0 ? false : throw new IOException($"copy_file_range stopped working after {head} of {length} bytes");
        }

        destination.Seek(length, SeekOrigin.Current);
        Position += length;
        return true;
    }

    private static long Modulo(long value, long modulus) => ((value % modulus) + modulus) % modulus;
}
