using TorchFerry.Format.Archive;
using TorchFerry.Format.Conversion;

namespace TorchFerry.Format.Tests;

/// <summary>
/// Converts an archive on local disk with the engine alone (the product goes through
/// <c>StoreArtifactConverter</c>, which adds stores; these tests pin the engine's own behaviour). The source is opened read-only; the destination is written
/// to a temporary file beside it, flushed to disk (unless told otherwise) and renamed into place,
/// so it appears whole or not at all.
/// </summary>
internal static class LocalConversion
{
    /// <summary>Converts <paramref name="sourcePath"/> into <paramref name="destinationPath"/>.</summary>
    /// <param name="sourcePath">The archive to read.</param>
    /// <param name="destinationPath">Where the converted archive goes.</param>
    /// <param name="map">Where storages go.</param>
    /// <param name="overwrite">Replace an existing destination.</param>
    /// <param name="progress">Storage bytes copied so far, and the total.</param>
    /// <param name="limits">Archive limits; the defaults when null.</param>
    /// <param name="options">How records are copied; the defaults when null.</param>
    /// <param name="cancellationToken">Cancels the conversion; nothing is left behind.</param>
    public static async Task<RelocationReport> ConvertAsync(
        string sourcePath,
        string destinationPath,
        DeviceMap map,
        bool overwrite = false,
        Action<long, long>? progress = null,
        ArchiveLimits? limits = null,
        RelocationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sourcePath);
        ArgumentNullException.ThrowIfNull(destinationPath);
        var source = Path.GetFullPath(sourcePath);
        var destination = Path.GetFullPath(destinationPath);
        if (string.Equals(source, destination, StringComparison.Ordinal))
        {
            throw new IOException($"{destinationPath}: the destination is the source; sources are never modified");
        }

        if (!overwrite && File.Exists(destination))
        {
            throw new IOException($"{destinationPath}: already exists; pass --force to replace it");
        }

        using var input = FileSource.Open(source);
        var archive = await TorchArchive.OpenAsync(input, limits, cancellationToken).ConfigureAwait(false);
        options ??= RelocationOptions.Default;
        var total = archive.Entries.Where(e => !ReferenceEquals(e, archive.PickleEntry)).Sum(e => e.UncompressedSize);
        await using var output = AtomicFile.Create(destination);
        var reporter = progress is null ? null : new SyncProgress(progress, total);
        var report = await ArchiveRelocator.RelocateAsync(archive, map, output.Stream, reporter, options, cancellationToken).ConfigureAwait(false);
        await output.CommitAsync(options.Durable, cancellationToken).ConfigureAwait(false);
        return report;
    }

    /// <summary>Reports on the copying thread (Progress&lt;T&gt; would post to the thread pool out of order).</summary>
    private sealed class SyncProgress(Action<long, long> report, long total) : IProgress<long>
    {
        public void Report(long value) => report(value, total);
    }
}
