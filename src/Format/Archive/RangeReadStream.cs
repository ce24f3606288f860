namespace TorchFerry.Format.Archive;

/// <summary>
/// A forward-only, read-only stream over a byte range of known length, as
/// <see cref="IRandomAccessSource.OpenRange"/> returns. Subclasses fetch the next bytes; this base
/// keeps to the range and turns an early end of the underlying data into the subclass's error.
/// </summary>
public abstract class RangeReadStream(long length) : Stream
{
    private long position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => length;

    public override long Position
    {
        get => position;
        set => throw new NotSupportedException();
    }

    public sealed override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var want = (int)Math.Min(buffer.Length, length - position);
        if (want <= 0)
        {
            return 0;
        }

        var n = await ReadCoreAsync(buffer[..want], position, cancellationToken).ConfigureAwait(false);
        if (n == 0)
        {
            throw await EndedEarlyAsync(position, cancellationToken).ConfigureAwait(false);
        }

        position += n;
        return n;
    }

    public sealed override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public sealed override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    /// <summary>Reads up to <paramref name="buffer"/>.Length bytes at <paramref name="offset"/> within the range; 0 means the data ended early.</summary>
    protected abstract ValueTask<int> ReadCoreAsync(Memory<byte> buffer, long offset, CancellationToken cancellationToken);

    /// <summary>The error for data that ended <paramref name="offset"/> bytes into the range.</summary>
    protected abstract ValueTask<Exception> EndedEarlyAsync(long offset, CancellationToken cancellationToken);
}
