using TorchFerry.Format.Archive;
using TorchFerry.Format.Conversion;

namespace TorchFerry.Storage.Local;

/// <summary>A local file written atomically (temporary file, fsync, rename); ranges of local sources are copied by the kernel.</summary>
internal sealed class LocalObjectWriter : IObjectWriter
{
    private readonly StorageUri uri;
    private readonly bool durable;
    private readonly AtomicFile file;
    private readonly StreamArchiveSink sink;
    private readonly ObjectWriteOptions options;

    public LocalObjectWriter(StorageUri uri, bool durable, ObjectWriteOptions options)
    {
        this.uri = uri;
        this.durable = durable;
        this.options = options;
        file = AtomicFile.Create(uri.Key, options.Mode);
        sink = new StreamArchiveSink(file.Stream, startWriteback: durable);
    }

    public long Position => sink.Position;

    public bool CanVerifyCopies => true;

    public int CopyAlignment => sink.CopyAlignment;

    public long BytesCloned => sink.BytesCloned;

    public long BytesUploaded => Position - BytesCopiedByStore;

    public long BytesCopiedByStore { get; private set; }

    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken) => sink.WriteAsync(data, cancellationToken);

    public async ValueTask<bool> TryShareRangeAsync(IRandomAccessSource source, long offset, long length, CancellationToken cancellationToken)
    {
        var shared = await sink.TryShareRangeAsync(source, offset, length, cancellationToken).ConfigureAwait(false);
        BytesCopiedByStore += shared ? length : 0;
        return shared;
    }

    public async ValueTask<bool> TryCopyRangeAsync(IRandomAccessSource source, long offset, long length, CancellationToken cancellationToken)
    {
        var copied = await sink.TryCopyRangeAsync(source, offset, length, cancellationToken).ConfigureAwait(false);
        BytesCopiedByStore += copied ? length : 0;
        return copied;
    }

    public async Task<ObjectInfo> CompleteAsync(CancellationToken cancellationToken)
    {
        await file.CommitAsync(durable, cancellationToken, options.Replace).ConfigureAwait(false);
        return LocalObjectStore.Info(new FileInfo(uri.Key));
    }

    public Task AbortAsync(CancellationToken cancellationToken) => file.DisposeAsync().AsTask();

    public ValueTask DisposeAsync() => file.DisposeAsync();
}
