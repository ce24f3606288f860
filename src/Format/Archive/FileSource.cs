using Microsoft.Win32.SafeHandles;

namespace TorchFerry.Format.Archive;

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
            throw new ArtifactFormatException(FormatErrorKind.NotAnArchive, $"{path}: is a directory, not a torch.save file");
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
                throw new ArtifactFormatException(FormatErrorKind.Truncated, $"{Name}: unexpected end of file at byte {offset + done} (truncated file?)");
            }

            done += n;
        }

        Interlocked.Add(ref bytesRead, buffer.Length);
    }

    public Stream OpenRange(long offset, long length) => new HandleRangeStream(this, offset, length);

    public void Dispose() => handle.Dispose();

    /// <summary>A forward-only view of part of a file; the handle stays owned by the source.</summary>
    private sealed class HandleRangeStream(FileSource owner, long start, long length) : RangeReadStream(length)
    {
        protected override async ValueTask<int> ReadCoreAsync(Memory<byte> buffer, long offset, CancellationToken cancellationToken)
        {
            var n = await RandomAccess.ReadAsync(owner.handle, buffer, start + offset, cancellationToken).ConfigureAwait(false);
            Interlocked.Add(ref owner.bytesRead, n);
            return n;
        }

        protected override ValueTask<Exception> EndedEarlyAsync(long offset, CancellationToken cancellationToken) =>
            ValueTask.FromResult<Exception>(new ArtifactFormatException(FormatErrorKind.Truncated, $"{owner.Name}: unexpected end of file at byte {start + offset} (truncated file?)"));
    }
}
