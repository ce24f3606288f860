using TorchFerry.Format.Archive;

namespace TorchFerry.Format.Conversion;

/// <summary>
/// A sink over a stream. File to file (a <see cref="FileSource"/> into a <see cref="FileStream"/>),
/// ranges are copied by the kernel with copy_file_range, as <c>cp</c> does; when the file is to be
/// made durable, writeback of a copied range starts at once so the final fsync overlaps the CRC pass.
/// </summary>
public sealed class StreamArchiveSink(Stream output, long kernelCopyThreshold = 64 * 1024, bool startWriteback = false) : IArchiveSink
{
    public long Position { get; private set; }

    public bool CanVerifyCopies => true;

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
        if (!KernelCopy.TryCopy(file.Handle, offset, destination.SafeFileHandle, destination.Position, length, cancellationToken))
        {
            return false;
        }

        if (startWriteback)
        {
            KernelCopy.StartWriteback(destination.SafeFileHandle, destination.Position, length);
        }

        destination.Seek(length, SeekOrigin.Current);
        Position += length;
        return true;
    }
}
