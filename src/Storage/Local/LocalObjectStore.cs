using System.Globalization;
using System.Runtime.CompilerServices;
using TorchFerry.Format.Archive;

namespace TorchFerry.Storage.Local;

/// <summary>
/// Local files: the embedded default when no bucket is configured. ETags are derived from size and
/// modification time, enough to tell that a file changed while it was read.
/// </summary>
internal sealed class LocalObjectStore(bool durable = true) : IObjectStore
{
    public Task<ObjectInfo> StatAsync(StorageUri uri, CancellationToken cancellationToken)
    {
        var file = new FileInfo(uri.Key);
        if (!file.Exists)
        {
            throw new StorageException(StorageErrorKind.NotFound, Directory.Exists(uri.Key) ? $"{uri}: is a directory, not a file" : $"{uri}: no such file");
        }

        return Task.FromResult(Info(file));
    }

    public async Task<IRandomAccessSource> OpenReadAsync(StorageUri uri, ObjectInfo expected, CancellationToken cancellationToken)
    {
        var source = FileSource.Open(uri.Key);
        var now = await StatAsync(uri, cancellationToken).ConfigureAwait(false);
        if (now != expected)
        {
            source.Dispose();
            throw new StorageException(StorageErrorKind.SourceChanged, $"{uri}: changed before it could be read");
        }

        return source;
    }

    public Task<IObjectWriter> CreateWriterAsync(StorageUri uri, CancellationToken cancellationToken, ObjectWriteOptions? options = null) =>
        Task.FromResult<IObjectWriter>(new LocalObjectWriter(uri, durable, options ?? ObjectWriteOptions.Default));

    public Task DeleteAsync(StorageUri uri, CancellationToken cancellationToken)
    {
        File.Delete(uri.Key);
        return Task.CompletedTask;
    }

    public async IAsyncEnumerable<(StorageUri Uri, ObjectInfo Info)> ListAsync(StorageUri prefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var directory = prefix.Key.EndsWith('/') ? prefix.Key : Path.GetDirectoryName(prefix.Key)!;
        if (!Directory.Exists(directory))
        {
            yield break;
        }

        foreach (var path in Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (path.StartsWith(prefix.Key, StringComparison.Ordinal))
            {
                yield return (StorageUri.Local(path), Info(new FileInfo(path)));
            }
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    internal static ObjectInfo Info(FileInfo file) =>
        new(file.Length, string.Create(CultureInfo.InvariantCulture, $"\"{file.Length:x}-{file.LastWriteTimeUtc.Ticks:x}\""));
}
