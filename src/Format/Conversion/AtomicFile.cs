namespace TorchFerry.Format.Conversion;

/// <summary>
/// A file written under a hidden temporary name beside its destination and renamed into place on
/// commit (after an fsync when durable), so the destination appears whole or not at all; disposing
/// an uncommitted one deletes the temporary file.
/// </summary>
public sealed class AtomicFile : IAsyncDisposable
{
    private readonly string temporary;
    private bool committed;

    private AtomicFile(string destination, string temporary, FileStream stream)
    {
        Destination = destination;
        this.temporary = temporary;
        Stream = stream;
    }

    /// <summary>The final path.</summary>
    public string Destination { get; }

    /// <summary>The stream to write (the temporary file).</summary>
    public FileStream Stream { get; }

    /// <summary>Creates the temporary file for <paramref name="destination"/>, whose folder must exist.</summary>
    public static AtomicFile Create(string destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var full = Path.GetFullPath(destination);
        if (Directory.Exists(full))
        {
            throw new IOException($"{destination}: is a directory; give a file name");
        }

        var directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"{destination}: folder '{directory}' does not exist");
        }

        var temporary = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        return new AtomicFile(full, temporary, stream);
    }

    /// <summary>Flushes (to disk when <paramref name="durable"/>) and renames into place, replacing any file there.</summary>
    public async Task CommitAsync(bool durable, CancellationToken cancellationToken)
    {
        await Stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (durable)
        {
            Stream.Flush(flushToDisk: true);
        }

        await Stream.DisposeAsync().ConfigureAwait(false);
        File.Move(temporary, Destination, overwrite: true);
        committed = true;
    }

    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync().ConfigureAwait(false);
        if (!committed)
        {
            try
            {
                File.Delete(temporary);
            }
            catch (IOException)
            {
                // Best effort: the name is hidden and unique; the error that got us here matters more.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }
}
