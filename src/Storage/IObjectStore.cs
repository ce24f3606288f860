using TorchFerry.Format.Archive;

namespace TorchFerry.Storage;

/// <summary>One kind of object store (local files, S3).</summary>
public interface IObjectStore
{
    /// <summary>Size and ETag of an object.</summary>
    Task<ObjectInfo> StatAsync(StorageUri uri, CancellationToken cancellationToken);

    /// <summary>
    /// Opens an object for ranged reads, pinned to <paramref name="expected"/>'s ETag: a read of an
    /// object that has changed since fails with <see cref="StorageErrorKind.SourceChanged"/>.
    /// </summary>
    Task<IRandomAccessSource> OpenReadAsync(StorageUri uri, ObjectInfo expected, CancellationToken cancellationToken);

    /// <summary>Starts writing an object; it appears only when the writer completes.</summary>
    Task<IObjectWriter> CreateWriterAsync(StorageUri uri, CancellationToken cancellationToken, ObjectWriteOptions? options = null);

    /// <summary>Deletes an object; a missing one is not an error.</summary>
    Task DeleteAsync(StorageUri uri, CancellationToken cancellationToken);

    /// <summary>Objects whose key starts with <paramref name="prefix"/>'s key.</summary>
    IAsyncEnumerable<(StorageUri Uri, ObjectInfo Info)> ListAsync(StorageUri prefix, CancellationToken cancellationToken);
}
