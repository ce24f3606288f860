using TorchFerry.Format.Archive;

namespace TorchFerry.Format.Tests.Fuzz;

/// <summary>An archive in memory, read as a store would read it (a short object is truncated input, as in FileSource).</summary>
internal sealed class MemorySource(byte[] bytes, string name) : IRandomAccessSource
{
    public string Name => name;

    public long Length => bytes.Length;

    public long BytesRead { get; private set; }

    public ValueTask ReadExactlyAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (offset < 0 || offset + buffer.Length > bytes.Length)
        {
            throw new ArtifactFormatException(FormatErrorKind.Truncated, $"{name}: unexpected end of file at byte {Math.Min(bytes.Length, Math.Max(0, offset))} (truncated file?)");
        }

        bytes.AsMemory((int)offset, buffer.Length).CopyTo(buffer);
        BytesRead += buffer.Length;
        return ValueTask.CompletedTask;
    }

    public Stream OpenRange(long offset, long length) =>
        offset < 0 || length < 0 || offset + length > bytes.Length
            ? throw new ArtifactFormatException(FormatErrorKind.Truncated, $"{name}: range past the end of the file (truncated file?)")
            : new MemoryStream(bytes, (int)offset, (int)length, writable: false);
}
