using Microsoft.Win32.SafeHandles;

namespace TorchFerry.Archive;

/// <summary>A local file read with positional reads; never opened for writing.</summary>
public sealed class FileSource : IRandomAccessSource, IDisposable
{
    private readonly SafeFileHandle handle;
    private long bytesRead;

    private FileSource(string path, SafeFileHandle handle, long length)
    {
        Name = path;
        this.handle = handle;
        Length = length;
    }

    public string Name { get; }

    public long Length { get; }

    public long BytesRead => Interlocked.Read(ref bytesRead);

    /// <summary>The open handle, for kernel-side copies.</summary>
    internal SafeFileHandle Handle => handle;

    /// <summary>Opens <paramref name="path"/> for reading, with a clear error when it is missing.</summary>
    public static FileSource Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
        {
            throw new ArchiveFormatException($"{path}: is a directory, not a torch.save file");
        }

        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path}: no such file", path);
        }

        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, FileOptions.RandomAccess);
        return new FileSource(path, handle, RandomAccess.GetLength(handle));
    }

    public async ValueTask ReadExactlyAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var n = await RandomAccess.ReadAsync(handle, buffer[done..], offset + done, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new ArchiveFormatException($"{Name}: unexpected end of file at byte {offset + done} (truncated file?)");
            }

            done += n;
        }

        Interlocked.Add(ref bytesRead, buffer.Length);
    }

    public Stream OpenRange(long offset, long length) => new HandleRangeStream(this, offset, length);

    public void Dispose() => handle.Dispose();

    /// <summary>A forward-only view of part of a file; the handle stays owned by the source.</summary>
    private sealed class HandleRangeStream(FileSource owner, long start, long length) : Stream
    {
        private readonly SafeFileHandle handle = owner.handle;
        private readonly string name = owner.Name;
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

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var want = (int)Math.Min(buffer.Length, length - position);
            if (want <= 0)
            {
                return 0;
            }

            var n = RandomAccess.Read(handle, buffer[..want], start + position);
            if (n == 0)
            {
                throw new ArchiveFormatException($"{name}: unexpected end of file at byte {start + position} (truncated file?)");
            }

            position += n;
            Interlocked.Add(ref owner.bytesRead, n);
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var want = (int)Math.Min(buffer.Length, length - position);
            if (want <= 0)
            {
                return 0;
            }

            var n = await RandomAccess.ReadAsync(handle, buffer[..want], start + position, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new ArchiveFormatException($"{name}: unexpected end of file at byte {start + position} (truncated file?)");
            }

            position += n;
            Interlocked.Add(ref owner.bytesRead, n);
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
    }
}
