namespace TorchFerry.Storage;

/// <summary>Conveniences over <see cref="IObjectStore"/>.</summary>
public static class ObjectStoreExtensions
{
    /// <summary>Reads a whole (small) object, refusing one over <paramref name="maxBytes"/> before reading it.</summary>
    /// <exception cref="StorageException">Missing (NotFound), too large (Other), or unreadable.</exception>
    public static async Task<byte[]> ReadAllAsync(this IObjectStore store, StorageUri uri, long maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        var info = await store.StatAsync(uri, cancellationToken).ConfigureAwait(false);
        if (info.Size > maxBytes)
        {
            throw new StorageException(StorageErrorKind.Other, $"{uri}: {info.Size} bytes is over the {maxBytes} byte limit");
        }

        var source = await store.OpenReadAsync(uri, info, cancellationToken).ConfigureAwait(false);
        try
        {
            var bytes = new byte[info.Size];
            await source.ReadExactlyAsync(0, bytes, cancellationToken).ConfigureAwait(false);
            return bytes;
        }
        finally
        {
            (source as IDisposable)?.Dispose();
        }
    }
}
