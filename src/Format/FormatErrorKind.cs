namespace TorchFerry.Format;

/// <summary>The ways an input can fail to be a torch.save archive TorchFerry works with.</summary>
public enum FormatErrorKind
{
    /// <summary>Damaged: a bad CRC, an inconsistent zip directory or pickle, sizes that disagree.</summary>
    Corrupt,

    /// <summary>Cut short: the data ends before what the archive declares.</summary>
    Truncated,

    /// <summary>Not a torch.save archive at all (empty, a bare pickle, another zip, a directory).</summary>
    NotAnArchive,

    /// <summary>The pre-1.6 torch.save formats (tar, or a pickle stream with the legacy magic).</summary>
    Legacy,

    /// <summary>A TorchScript archive (torch.jit.save), which has its own loader.</summary>
    TorchScript,

    /// <summary>Valid, but uses something TorchFerry does not carry (a compression method, a rebuild function).</summary>
    Unsupported,

    /// <summary>The pickle refers to a global that would run code when loaded.</summary>
    UnsafeGlobal,

    /// <summary>Beyond a documented bound (sizes, counts, depth, expansion ratio).</summary>
    LimitExceeded,
}
