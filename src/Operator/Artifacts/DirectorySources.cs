using System.Diagnostics;
using Serilog;
using TorchFerry.Crds;
using TorchFerry.Format;
using TorchFerry.Format.Inspection;
using TorchFerry.Storage;
using TorchFerry.Storage.Conversion;

namespace TorchFerry.Operator.Artifacts;

/// <summary>
/// The synchronizer's work for a TorchDirectory artifact (a FlyteDirectory of torch.save files): the
/// folder's listing stands for its ETag, its torch files are inspected together, and its variant is a
/// sibling folder with a manifest (<see cref="DirectoryVariants"/>), reused while the manifest matches.
/// </summary>
internal sealed class DirectorySources(ObjectStoreRouter stores, UriPolicy policy, TimeProvider time, ILogger log)
{
    private readonly DirectoryVariants variants = new(stores, new TorchContentProbe(stores), policy.Variants);
    private readonly StoreArtifactConverter converter = new(stores);

    public Task<ObjectInfo> StatAsync(StorageUri source, CancellationToken cancellationToken) => variants.StatAsync(source.ToUriString(), cancellationToken);

    /// <summary>Its torch files summed up: devices, dtypes and weights-only blockers of all, tensors counted over all.</summary>
    /// <exception cref="ArtifactFormatException">NotAnArchive when no file in it is a torch.save archive; any file's own error.</exception>
    public async Task<InspectedSource> InspectAsync(StorageUri source, ObjectInfo info, CancellationToken cancellationToken)
    {
        var members = await variants.TorchMembersAsync(source.ToUriString(), cancellationToken).ConfigureAwait(false);
        if (members.Count == 0)
        {
            throw new ArtifactFormatException(FormatErrorKind.NotAnArchive, $"{source.ToUriString()}: no file in it is a torch.save archive");
        }

        var descriptions = new List<ArtifactDescription>();
        foreach (var (_, uri) in members)
        {
            descriptions.Add(await converter.InspectAsync(uri, cancellationToken: cancellationToken).ConfigureAwait(false));
        }

        var newest = descriptions.Select(d => d.WeightsOnly[^1]).ToList();
        return new InspectedSource
        {
            Size = info.Size,
            ETag = info.ETag,
            Kind = "directory",
            Devices = [.. descriptions.SelectMany(d => d.Totals.Locations.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
            TensorCount = descriptions.Sum(d => d.Totals.Tensors),
            Dtypes = [.. descriptions.SelectMany(d => d.Totals.Dtypes.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
            WeightsOnly = new WeightsOnlyStatus
            {
                Torch = newest[0].Torch,
                Loads = newest.All(v => v.Loads),
                BlockedBy = ArtifactSynchronizer.Bounded([.. newest.SelectMany(v => v.BlockedBy).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)]),
            },
        };
    }

    /// <summary>The folder's variant for <paramref name="device"/>: the source itself when every file is already there, the one in status while it matches, or made now.</summary>
    public async Task<ArtifactVariant> VariantAsync(string @namespace, StorageUri source, ObjectInfo info, InspectedSource inspected, string device, ArtifactStatus current, bool weightsOnly, CancellationToken cancellationToken)
    {
        var directory = source.ToUriString();
        if (inspected.Devices is { Count: > 0 } devices && devices.All(d => d == device) && (!weightsOnly || inspected.WeightsOnly?.Loads == true))
        {
            return new ArtifactVariant { Device = device, Uri = directory, Size = info.Size, SourceETag = info.ETag, ConvertedAt = time.GetUtcNow(), BytesMoved = 0, DurationSeconds = 0 };
        }

        var target = variants.VariantFor(directory, device);
        policy.EnsureAllowed(@namespace, StorageUri.Parse(target));
        policy.EnsureAllowed(@namespace, StorageUri.Parse(DirectoryVariants.ManifestFor(target)));
        var existing = current.Variants?.FirstOrDefault(v => v.Device == device && v.Uri == target);
        if (existing is not null && existing.SourceETag == info.ETag && await variants.ReadyAsync(directory, device, cancellationToken, weightsOnly).ConfigureAwait(false) is not null)
        {
            return existing;
        }

        var watch = Stopwatch.StartNew();
        await variants.ConvertAsync(directory, device, cancellationToken, weightsOnly).ConfigureAwait(false);
        log.Information("{Namespace:l}: converted the folder {Source:l} for {Device:l} into {Target:l}", @namespace, directory, device, target);
        return new ArtifactVariant
        {
            Device = device,
            Uri = target,
            Size = info.Size,
            SourceETag = info.ETag,
            ConvertedAt = time.GetUtcNow(),
            DurationSeconds = Math.Round(watch.Elapsed.TotalSeconds, 3),
        };
    }

    /// <summary>Removes a variant folder and its manifest.</summary>
    public Task DeleteAsync(string variant, CancellationToken cancellationToken) => variants.DeleteAsync(variant, cancellationToken);
}
