namespace TorchFerry.Format.Conversion;

/// <summary>
/// A file written under a hidden temporary name beside its destination and renamed into place on
/// commit (after an fsync when durable), so the destination appears whole or not at all; disposing
/// an uncommitted one deletes the temporary file.
/// </summary>
public sealed class AtomicFile : IAsyncDisposable
{
    private readonly string temporary;
    private readonly UnixFileMode? mode;
    private bool committed;

    private AtomicFile(string destination, string temporary, FileStream stream, UnixFileMode? mode)
    {
        Destination = destination;
        this.temporary = temporary;
        Stream = stream;
        this.mode = mode;
    }

    /// <summary>The final path.</summary>
    public string Destination { get; }

    /// <summary>The stream to write (the temporary file).</summary>
    public FileStream Stream { get; }

    /// <summary>Creates the temporary file for <paramref name="destination"/>, whose folder must exist, with <paramref name="mode"/> from the start when given.</summary>
    public static AtomicFile Create(string destination, UnixFileMode? mode = null)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var full = Path.GetFullPath(destination);
        if (Directory.Exists(full))
        {
            throw new IOException($"{destination}: is a directory; give a file name");
        }

        // Renaming over a device node or a pipe would replace it (as root, /dev/null with a file).
        if (LocalFiles.Identify(full) is { IsRegular: false })
        {
            throw new IOException($"{destination}: is not a regular file (a device, a pipe or a socket); TorchFerry writes only regular files");
        }

        var directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"{destination}: folder '{directory}' does not exist");
        }

        var temporary = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        // Created with the final mode: a private source's copy is never readable by others, even half-written.
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 1 << 16, Options = FileOptions.Asynchronous };
        if (mode is { } bits && !OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = bits;
        }

        var stream = new FileStream(temporary, options);
        return new AtomicFile(full, temporary, stream, mode);
    }

    /// <summary>
    /// Flushes (to disk when <paramref name="durable"/>), gives the file exactly the mode it was
    /// created with (the umask may have cleared bits), and renames it into place: replacing any file
    /// there when <paramref name="replace"/>, else only if nothing is there at that instant (two
    /// writers without --force cannot both win).
    /// </summary>
    /// <exception cref="IOException">Without <paramref name="replace"/>, the destination exists.</exception>
    public async Task CommitAsync(bool durable, CancellationToken cancellationToken, bool replace = true)
    {
        await Stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (durable)
        {
            Stream.Flush(flushToDisk: true);
        }

        await Stream.DisposeAsync().ConfigureAwait(false);
        if (mode is { } bits && !OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temporary, bits);
        }

        if (replace)
        {
            File.Move(temporary, Destination, overwrite: true);
        }
        else
        {
            try
            {
                LocalFiles.MoveNoReplace(temporary, Destination);
            }
            catch (IOException e) when (e.HResult == 17)
            {
                throw new IOException($"{Destination}: already exists; pass --force to replace it", e);
            }
        }

        committed = true;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            // A full disk fails the last flush here too; the temporary file must go all the same.
            await Stream.DisposeAsync().ConfigureAwait(false);
        }
        catch (IOException) when (!committed)
        {
        }
        finally
        {
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
}
