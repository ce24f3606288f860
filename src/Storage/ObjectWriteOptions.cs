namespace TorchFerry.Storage;

/// <summary>How a writer puts its object in place.</summary>
/// <param name="Replace">Replace an object already there; when false, local files are put in place only if the name is free at that instant.</param>
/// <param name="Mode">Permission bits for a local file (a converted file keeps its source's); null for the default.</param>
public sealed record ObjectWriteOptions(bool Replace = true, UnixFileMode? Mode = null)
{
    public static ObjectWriteOptions Default { get; } = new();
}
