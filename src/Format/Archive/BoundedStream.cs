namespace TorchFerry.Format.Archive;

/// <summary>
/// Reads at most <c>limit</c> bytes from an inner stream and fails if the inner stream has more,
/// so a record that inflates past its declared size (a zip bomb) is stopped, not followed.
/// </summary>
internal sealed class BoundedStream(Stream inner, long limit, Func<Exception> overflow) : Stream
{
    private long position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => limit;

    public override long Position
    {
        get => position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (position == limit)
        {
            Span<byte> probe = stackalloc byte[1];
            return inner.Read(probe) > 0 ? throw overflow() : 0;
        }

        var n = inner.Read(buffer[..(int)Math.Min(buffer.Length, limit - position)]);
        position += n;
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (position == limit)
        {
            var probe = new byte[1];
            return await inner.ReadAsync(probe, cancellationToken).ConfigureAwait(false) > 0 ? throw overflow() : 0;
        }

        var n = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, limit - position)], cancellationToken).ConfigureAwait(false);
        position += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
