namespace TorchFerry.TestSupport;

/// <summary>
/// A write-only file stream that seeks over all-zero buffers instead of writing them, so tests can
/// make multi-GiB archives (zip64) that take almost no disk.
/// </summary>
public sealed class SparseFileStream(string path) : Stream
{
    private readonly FileStream file = new(path, FileMode.CreateNew, FileAccess.Write);

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => file.Length;

    public override long Position
    {
        get => file.Position;
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (buffer.ContainsAnyExcept((byte)0))
        {
            file.Write(buffer);
        }
        else
        {
            file.Seek(buffer.Length, SeekOrigin.Current);
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override void Flush()
    {
        file.SetLength(file.Position);
        file.Flush();
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Flush();
            file.Dispose();
        }

        base.Dispose(disposing);
    }
}
