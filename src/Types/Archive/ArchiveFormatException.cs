namespace TorchFerry.Archive;

/// <summary>
/// The input is not a torch.save archive TorchFerry can work with: corrupt, truncated, a format it
/// refuses (legacy, TorchScript), or content it will not carry (a pickle that runs code).
/// The message names the input and the problem and is fit to show to a user as one line.
/// </summary>
public sealed class ArchiveFormatException : Exception
{
    public ArchiveFormatException(string message)
        : base(message)
    {
    }

    public ArchiveFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ArchiveFormatException()
    {
    }
}
