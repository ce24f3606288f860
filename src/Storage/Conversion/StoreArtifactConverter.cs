using TorchFerry.Format;
using TorchFerry.Format.Archive;
using TorchFerry.Format.Conversion;
using TorchFerry.Format.Inspection;

namespace TorchFerry.Storage.Conversion;

/// <summary>
/// Converts an artifact from any supported URI to any other: the directory and <c>data.pkl</c> are
/// fetched with ranged reads, storage records are copied by the store (or the kernel) where it can
/// and streamed with bounded memory where not. The source's ETag is checked before and after (and
/// every ranged read is pinned to it); a source that changed discards the result. The destination
/// appears whole or not at all.
/// </summary>
public sealed class StoreArtifactConverter(ObjectStoreRouter stores)
{
    /// <summary>Describes the artifact at <paramref name="uri"/>.</summary>
    public async Task<ArtifactDescription> InspectAsync(StorageUri uri, ArchiveLimits? limits = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uri);
        var store = stores.For(uri);
        var info = await store.StatAsync(uri, cancellationToken).ConfigureAwait(false);
        var source = await store.OpenReadAsync(uri, info, cancellationToken).ConfigureAwait(false);
        try
        {
            return ArtifactInspector.Describe(await TorchArchive.OpenAsync(source, limits, cancellationToken).ConfigureAwait(false));
        }
        finally
        {
            (source as IDisposable)?.Dispose();
        }
    }

    /// <summary>
    /// Whether <paramref name="variant"/> exists, records every storage on <paramref name="device"/> and
    /// holds exactly the source's storage records (same names, sizes and CRCs): a conversion of this
    /// source for that device, whoever made it and whenever.
    /// </summary>
    public async Task<bool> IsVariantOfAsync(StorageUri source, StorageUri variant, string device, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(variant);
        try
        {
            // The variant first: where there is none (every first conversion) the source is not read again.
            var (variantArchive, variantHandle) = await OpenArchiveAsync(variant, cancellationToken).ConfigureAwait(false);
            using (variantHandle)
            {
                if (!variantArchive.IsEntirelyOn(device))
                {
                    return false;
                }

                var (sourceArchive, sourceHandle) = await OpenArchiveAsync(source, cancellationToken).ConfigureAwait(false);
                using (sourceHandle)
                {
                    return sourceArchive.HasSameRecordsAs(variantArchive);
                }
            }
        }
        catch (StorageException e) when (e.Kind == StorageErrorKind.NotFound)
        {
            return false;
        }
        catch (ArtifactFormatException)
        {
            return false; // something else is there; converting replaces it
        }
    }

    /// <summary>Opens the archive at <paramref name="uri"/> for ranged reads; the handle (when not null) closes the object.</summary>
    /// <exception cref="StorageException">The object cannot be read.</exception>
    /// <exception cref="ArtifactFormatException">It is not a torch.save archive TorchFerry carries.</exception>
    public async Task<(TorchArchive Archive, IDisposable? Handle)> OpenArchiveAsync(StorageUri uri, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(uri);
        var store = stores.For(uri);
        var info = await store.StatAsync(uri, cancellationToken).ConfigureAwait(false);
        var source = await store.OpenReadAsync(uri, info, cancellationToken).ConfigureAwait(false);
        try
        {
            return (await TorchArchive.OpenAsync(source, cancellationToken: cancellationToken).ConfigureAwait(false), source as IDisposable);
        }
        catch
        {
            (source as IDisposable)?.Dispose();
            throw;
        }
    }

    /// <summary>Converts <paramref name="sourceUri"/> into <paramref name="destinationUri"/>.</summary>
    public async Task<StoreConversionReport> ConvertAsync(
        StorageUri sourceUri,
        StorageUri destinationUri,
        DeviceMap map,
        bool overwrite = false,
        Action<long, long>? progress = null,
        RelocationOptions? options = null,
        ArchiveLimits? limits = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sourceUri);
        ArgumentNullException.ThrowIfNull(destinationUri);
        ArgumentNullException.ThrowIfNull(map);
        if (sourceUri == destinationUri)
        {
            throw new StorageException(StorageErrorKind.Other, $"{destinationUri}: the destination is the source; sources are never modified");
        }

        var sourceStore = stores.For(sourceUri);
        var destinationStore = stores.For(destinationUri);
        var before = await sourceStore.StatAsync(sourceUri, cancellationToken).ConfigureAwait(false);
        var sourceFile = sourceUri.Scheme == StorageScheme.File ? LocalFiles.Identify(sourceUri.Key) : null;
        if (sourceFile is { } file && destinationUri.Scheme == StorageScheme.File && LocalFiles.Identify(destinationUri.Key) is { } existing && existing.IsSameFileAs(file))
        {
            // The same file under another name (a link, a symlinked folder): writing would replace the source.
            throw new StorageException(StorageErrorKind.Other, $"{destinationUri}: is the source ({sourceUri}) under another name; sources are never modified");
        }

        if (!overwrite && await ExistsAsync(destinationStore, destinationUri, cancellationToken).ConfigureAwait(false))
        {
            throw new StorageException(StorageErrorKind.Other, $"{destinationUri}: already exists; pass --force to replace it");
        }

        var source = await sourceStore.OpenReadAsync(sourceUri, before, cancellationToken).ConfigureAwait(false);
        try
        {
            var archive = await TorchArchive.OpenAsync(source, limits, cancellationToken).ConfigureAwait(false);
            var total = archive.Entries.Where(e => !ReferenceEquals(e, archive.PickleEntry)).Sum(e => e.UncompressedSize);
            await using var writer = await destinationStore.CreateWriterAsync(destinationUri, cancellationToken, new ObjectWriteOptions(overwrite, sourceFile?.Mode)).ConfigureAwait(false);
            var reporter = progress is null ? null : new ProgressReporter(progress, total);
            var relocation = await ArchiveRelocator.RelocateAsync(archive, map, writer, reporter, options, cancellationToken).ConfigureAwait(false);

            var after = await sourceStore.StatAsync(sourceUri, cancellationToken).ConfigureAwait(false);
            if (after.ETag != before.ETag || after.Size != before.Size)
            {
                throw new StorageException(
                    StorageErrorKind.SourceChanged,
                    $"{sourceUri}: changed during the conversion (ETag {before.ETag} became {after.ETag}); the result was discarded");
            }

            var destination = await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
            return new StoreConversionReport(relocation, before, destination, source.BytesRead, writer.BytesUploaded, writer.BytesCopiedByStore);
        }
        finally
        {
            (source as IDisposable)?.Dispose();
        }
    }

    private static async Task<bool> ExistsAsync(IObjectStore store, StorageUri uri, CancellationToken cancellationToken)
    {
        try
        {
            await store.StatAsync(uri, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (StorageException e) when (e.Kind == StorageErrorKind.NotFound)
        {
            return false;
        }
    }

    private sealed class ProgressReporter(Action<long, long> report, long total) : IProgress<long>
    {
        public void Report(long value) => report(value, total);
    }
}
