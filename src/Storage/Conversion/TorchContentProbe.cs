using System.Collections.Concurrent;
using TorchFerry.Format;
using TorchFerry.Format.Archive;

namespace TorchFerry.Storage.Conversion;

/// <summary>
/// Tells whether an object is a torch.save archive by its content, whatever the Flyte format string
/// says (a FlyteFile of <c>""</c>, <c>pt</c>, <c>ckpt</c>, <c>csv</c>): ranged reads of its first bytes,
/// then of the zip's end and <c>data.pkl</c> (bounded by <see cref="ArchiveLimits"/>). Anything else
/// costs one small read. Answers are cached by URI and ETag (bounded), so a file read by many tasks is
/// probed once.
/// </summary>
public sealed class TorchContentProbe(ObjectStoreRouter stores, int capacity = 10_000)
{
    private readonly ConcurrentDictionary<(string Uri, string ETag), bool> answers = new();
    private long reads;

    /// <summary>Probes that opened the object (not answered from the cache).</summary>
    public long Reads => Interlocked.Read(ref reads);

    /// <summary>
    /// True for a torch.save zip archive, including one TorchFerry refuses to carry (corrupt, unsafe,
    /// beyond a limit: converting it then says why); false for other content (not a zip, another zip,
    /// an empty file, the legacy formats, TorchScript).
    /// </summary>
    /// <exception cref="StorageException">The object cannot be read.</exception>
    public async Task<bool> IsTorchArchiveAsync(StorageUri uri, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(uri);
        var store = stores.For(uri);
        var info = await store.StatAsync(uri, cancellationToken).ConfigureAwait(false);
        var key = (uri.ToUriString(), info.ETag);
        if (answers.TryGetValue(key, out var known))
        {
            return known;
        }

        Interlocked.Increment(ref reads);
        var source = await store.OpenReadAsync(uri, info, cancellationToken).ConfigureAwait(false);
        bool answer;
        try
        {
            await TorchArchive.OpenAsync(source, cancellationToken: cancellationToken).ConfigureAwait(false);
            answer = true;
        }
        catch (ArtifactFormatException e)
        {
            answer = e.Kind is not (FormatErrorKind.NotAnArchive or FormatErrorKind.Legacy or FormatErrorKind.TorchScript);
        }
        finally
        {
            (source as IDisposable)?.Dispose();
        }

        if (answers.Count >= capacity)
        {
            answers.Clear(); // a bound, not a policy: the next probes read again
        }

        answers[key] = answer;
        return answer;
    }
}
