namespace TorchFerry.Format.Archive;

/// <summary>
/// Bytes that can be read at any offset: a local file, or an object in a store read with ranged
/// requests. Archives are read through this so only the directory, the pickle and the records
/// being copied are ever fetched.
/// </summary>
public interface IRandomAccessSource
{
    /// <summary>A name for messages (a path or URI, never a credential).</summary>
    string Name { get; }

    /// <summary>Total length in bytes.</summary>
    long Length { get; }

    /// <summary>Bytes read through this process so far (not those copied by the kernel or a store).</summary>
    long BytesRead { get; }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes at <paramref name="offset"/>.</summary>
    ValueTask ReadExactlyAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Opens a forward-only stream over [offset, offset + length).</summary>
    Stream OpenRange(long offset, long length);
}
