namespace TorchFerry.Format;

/// <summary>
/// The input is not a torch.save archive TorchFerry can work with. <see cref="Kind"/> says which
/// way (the operator maps it to a condition reason); the message names the input and the problem
/// and is fit to show to a user as one line: whatever an input puts in it (a record named with a
/// line break), its control characters are escaped. Retrying never helps: only a different input does.
/// </summary>
public sealed class ArtifactFormatException : Exception
{
    public ArtifactFormatException(FormatErrorKind kind, string message)
        : base(InputText.OneLine(message))
    {
        Kind = kind;
    }

    public ArtifactFormatException(FormatErrorKind kind, string message, Exception innerException)
        : base(InputText.OneLine(message), innerException)
    {
        Kind = kind;
    }

    public ArtifactFormatException()
    {
    }

    public ArtifactFormatException(string message)
        : base(message)
    {
    }

    public ArtifactFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>What is wrong with the input.</summary>
    public FormatErrorKind Kind { get; } = FormatErrorKind.Corrupt;
}
