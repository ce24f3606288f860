using TorchFerry.Format.Conversion;

namespace TorchFerry.Storage;

/// <summary>
/// An object being written, front to back. Nothing is visible at the destination until
/// <see cref="CompleteAsync"/>; disposing an incomplete writer aborts it, leaving no object and
/// no orphaned upload.
/// </summary>
public interface IObjectWriter : IArchiveSink, IAsyncDisposable
{
    /// <summary>Bytes written through this process (uploaded parts; not server-side or kernel copies).</summary>
    long BytesUploaded { get; }

    /// <summary>Bytes the store copied itself (server-side copies).</summary>
    long BytesCopiedByStore { get; }

    /// <summary>Makes the object appear, whole; returns what the store says of it.</summary>
    Task<ObjectInfo> CompleteAsync(CancellationToken cancellationToken);

    /// <summary>Abandons the object; nothing remains.</summary>
    Task AbortAsync(CancellationToken cancellationToken);
}
