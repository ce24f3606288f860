namespace TorchFerry.Storage;

/// <summary>A store refused or failed an operation. The message names the URI, never a credential.</summary>
public sealed class StorageException : IOException
{
    public StorageException(StorageErrorKind kind, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
    }

    public StorageException()
    {
    }

    public StorageException(string message)
        : base(message)
    {
    }

    public StorageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public StorageErrorKind Kind { get; }
}

/// <summary>Why a storage operation failed.</summary>
public enum StorageErrorKind
{
    /// <summary>Anything else.</summary>
    Other,

    /// <summary>No such object (or bucket).</summary>
    NotFound,

    /// <summary>Credentials missing, wrong, or not allowed.</summary>
    AccessDenied,

    /// <summary>The endpoint could not be reached.</summary>
    Unreachable,

    /// <summary>The source changed while it was being read.</summary>
    SourceChanged,

    /// <summary>The store kept failing (5xx, throttling) after retries.</summary>
    Unavailable,

    /// <summary>The URI is outside the prefixes this caller may touch.</summary>
    Forbidden,
}
