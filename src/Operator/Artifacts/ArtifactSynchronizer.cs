using System.Diagnostics;
using Serilog;
using TorchFerry.Format;
using TorchFerry.Format.Conversion;
using TorchFerry.Contract;
using TorchFerry.Crds;
using TorchFerry.Format.Inspection;
using TorchFerry.Storage;
using TorchFerry.Storage.Conversion;

namespace TorchFerry.Operator.Artifacts;

/// <summary>
/// The artifact reconciler's work, apart from Kubernetes: inspect the source into status, keep one
/// variant per target device beside the source (reused while its source ETag matches, reconverted
/// when the source changed), drop variants no longer wanted, and clean them up on deletion. URIs
/// outside the namespace's allowed prefixes are refused and never touched.
/// </summary>
internal sealed class ArtifactSynchronizer(ObjectStoreRouter stores, UriPolicy policy, TimeProvider time, ILogger log)
{
    private readonly StoreArtifactConverter converter = new(stores);
    private readonly DirectorySources directories = new(stores, policy, time, log);

    /// <summary>The status the artifact should have now; conversions happen on the way.</summary>
    public async Task<ArtifactStatus> SyncAsync(string @namespace, ArtifactSpec spec, ArtifactStatus? current, long generation, CancellationToken cancellationToken, VariantExpiry? expiry = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        expiry ??= VariantExpiry.None;
        current ??= new ArtifactStatus();
        StorageUri source;
        try
        {
            source = StorageUri.Parse(spec.Source.Uri);
            policy.EnsureAllowed(@namespace, source);
        }
        catch (Exception e) when (e is StorageException or ArgumentException)
        {
            return Failed(current, generation, inspected: false, ConditionReasons.ForbiddenUri, e.Message);
        }

        var targets = new List<string>();
        foreach (var wanted in spec.TargetDevices ?? [])
        {
            if (!TorchDevice.TryParse(wanted, out var device))
            {
                // The CRD schema refuses these; an older CRD or a hand-edited object may not.
                return Failed(current, generation, inspected: false, ConditionReasons.InvalidDevice, TorchDevice.Problem(wanted, "spec.targetDevices"));
            }

            if (!targets.Contains(device.Name))
            {
                targets.Add(device.Name);
            }
        }

        var isDirectory = spec.Source.Format == FlyteBlobFormat.TorchDirectory;
        ObjectInfo info;
        InspectedSource inspected;
        try
        {
            info = isDirectory
                ? await directories.StatAsync(source, cancellationToken).ConfigureAwait(false)
                : await stores.For(source).StatAsync(source, cancellationToken).ConfigureAwait(false);
            inspected = current.Source is { } known && known.ETag == info.ETag
                ? known
                : isDirectory
                    ? await directories.InspectAsync(source, info, cancellationToken).ConfigureAwait(false)
                    : Inspected(info, await converter.InspectAsync(source, cancellationToken: cancellationToken).ConfigureAwait(false));
        }
        catch (StorageException e)
        {
            return Failed(current, generation, inspected: false, ConditionReasons.SourceUnavailable, e.Message);
        }
        catch (ArtifactFormatException e)
        {
            return Failed(current, generation, inspected: false, FormatReasons.For(e.Kind), e.Message);
        }

        var variants = new List<ArtifactVariant>();
        var unused = new List<string>();
        foreach (var device in targets)
        {
            if (expiry.ExpiresAt(device, current.Variants?.FirstOrDefault(v => v.Device == device)) is { } end && end <= time.GetUtcNow())
            {
                unused.Add(device); // deleted below, made again at the next use
                continue;
            }

            try
            {
                var variant = isDirectory
                    ? await directories.VariantAsync(@namespace, source, info, inspected, device, current, spec.WeightsOnly == true, cancellationToken).ConfigureAwait(false)
                    : await VariantAsync(@namespace, source, info, inspected, device, current, spec.WeightsOnly == true, cancellationToken).ConfigureAwait(false);
                variants.Add(variant with { LastUsedAt = expiry.LastUse(device) });
            }
            catch (Exception e) when (e is StorageException or ArtifactFormatException)
            {
                log.Warning("{Namespace:l}: converting {Source:l} for {Device:l} failed: {Error:l}", @namespace, source, device, e.Message);
                var partial = current with { Source = inspected, Variants = variants };
                var reason = e is ArtifactFormatException format ? FormatReasons.For(format.Kind) : ConditionReasons.ConversionFailed;
                return Failed(partial, generation, inspected: true, reason, $"{device}: {e.Message}");
            }
        }

        await DropUnwantedAsync(@namespace, source, spec, current, variants, cancellationToken).ConfigureAwait(false);
        if (unused.Count > 0 && current.Variants?.Any(v => unused.Contains(v.Device)) == true)
        {
            log.Information("{Namespace:l}: {Source:l}: variants for {Devices:l} unused for {Ttl:l}, deleted", @namespace, source, string.Join(", ", unused), spec.TtlAfterUnused);
        }

        var now = time.GetUtcNow();
        var kept = targets.Except(unused).ToList();
        var readyMessage = (kept.Count == 0 && unused.Count == 0 ? "no target devices" : kept.Count == 0 ? "no variants in use" : $"variants ready for {string.Join(", ", kept)}")
            + (unused.Count == 0 ? string.Empty : $"; unused for {spec.TtlAfterUnused}, kept only as a source: {string.Join(", ", unused)}");
        return current with
        {
            Phase = ArtifactPhase.Ready,
            ObservedGeneration = generation,
            Source = inspected,
            Variants = variants,
            Conditions = Conditions.Set(
                Conditions.Set(current.Conditions, new Condition { Type = ConditionReasons.InspectedType, Status = ConditionStatus.True, Reason = ConditionReasons.Inspected, Message = $"{inspected.TensorCount} tensors on {string.Join(", ", inspected.Devices ?? [])}", ObservedGeneration = generation, LastTransitionTime = now }),
                new Condition { Type = ConditionReasons.ReadyType, Status = ConditionStatus.True, Reason = ConditionReasons.VariantsReady, Message = readyMessage, ObservedGeneration = generation, LastTransitionTime = now }),
        };
    }

    /// <summary>On deletion: removes the variants (policy Delete), never the source. Returns when done.</summary>
    public async Task CleanupAsync(string @namespace, ArtifactSpec spec, ArtifactStatus? status, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.VariantDeletionPolicy == VariantDeletionPolicy.Retain || status?.Variants is not { Count: > 0 } variants)
        {
            return;
        }

        var source = StorageUri.Parse(spec.Source.Uri);
        foreach (var variant in variants)
        {
            var uri = StorageUri.Parse(variant.Uri);
            if (uri == source || !policy.Allows(@namespace, uri))
            {
                continue; // a variant that is the source itself, or that we may not touch
            }

            await DeleteVariantAsync(uri, cancellationToken).ConfigureAwait(false);
        }
    }

    // A folder's variant (its URI ends with '/') goes with its manifest; a file's is one object.
    private Task DeleteVariantAsync(StorageUri uri, CancellationToken cancellationToken) =>
        uri.ToUriString().EndsWith('/') ? directories.DeleteAsync(uri.ToUriString(), cancellationToken) : stores.For(uri).DeleteAsync(uri, cancellationToken);

    private async Task<ArtifactVariant> VariantAsync(
        string @namespace, StorageUri source, ObjectInfo info, InspectedSource inspected, string device, ArtifactStatus current, bool weightsOnly, CancellationToken cancellationToken)
    {
        // Already on the device (and loadable with weights_only where asked): the source is the variant, nothing to copy.
        if (inspected.Devices is { Count: > 0 } devices && devices.All(d => d == device) && (!weightsOnly || inspected.WeightsOnly?.Loads == true))
        {
            return new ArtifactVariant { Device = device, Uri = source.ToUriString(), Size = info.Size, ETag = info.ETag, SourceETag = info.ETag, ConvertedAt = time.GetUtcNow(), BytesMoved = 0, DurationSeconds = 0 };
        }

        var target = policy.Variants.For(source, device);
        policy.EnsureAllowed(@namespace, target);
        var existing = current.Variants?.FirstOrDefault(v => v.Device == device && v.Uri == target.ToUriString());
        if (existing is not null && existing.SourceETag == info.ETag && (existing.WeightsOnlyChanges is not null) == weightsOnly
            && await StillThereAsync(target, existing, cancellationToken).ConfigureAwait(false))
        {
            return existing;
        }

        if (await AdoptAsync(source, info, inspected, target, device, weightsOnly, cancellationToken).ConfigureAwait(false) is { } adopted)
        {
            return adopted;
        }

        var watch = Stopwatch.StartNew();
        var report = await converter.ConvertAsync(source, target, DeviceMap.Create(device), overwrite: true, options: new RelocationOptions { WeightsOnly = weightsOnly }, cancellationToken: cancellationToken).ConfigureAwait(false);
        log.Information("{Namespace:l}: converted {Source:l} for {Device:l} into {Target:l} ({Bytes} bytes through the operator)", @namespace, source, device, target, report.BytesThroughProcess);
        return new ArtifactVariant
        {
            Device = device,
            Uri = target.ToUriString(),
            Size = report.Destination.Size,
            ETag = report.Destination.ETag,
            SourceETag = report.Source.ETag,
            ConvertedAt = time.GetUtcNow(),
            BytesMoved = report.BytesThroughProcess,
            DurationSeconds = Math.Round(watch.Elapsed.TotalSeconds, 3),
            WeightsOnlyChanges = report.Relocation.WeightsOnlyChanges,
        };
    }

    // A variant already in place that the status does not record (a conversion finished while the API
    // server was away, so its status write failed; or prepare-inputs made it) is adopted, not made
    // again, when its records are the source's, it is on the device, and it was made the way asked
    // (with weights_only conversion exactly when asked: its weights-only blockers tell).
    private async Task<ArtifactVariant?> AdoptAsync(StorageUri source, ObjectInfo info, InspectedSource inspected, StorageUri target, string device, bool weightsOnly, CancellationToken cancellationToken)
    {
        if (!await converter.IsVariantOfAsync(source, target, device, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var made = WeightsOnly((await converter.InspectAsync(target, cancellationToken: cancellationToken).ConfigureAwait(false)).WeightsOnly[^1]);
        var asked = weightsOnly
            ? made.Loads == true
            : (made.BlockedBy ?? []).SequenceEqual(inspected.WeightsOnly?.BlockedBy ?? [], StringComparer.Ordinal);
        if (!asked)
        {
            return null;
        }

        var found = await stores.For(target).StatAsync(target, cancellationToken).ConfigureAwait(false);
        return new ArtifactVariant
        {
            Device = device,
            Uri = target.ToUriString(),
            Size = found.Size,
            ETag = found.ETag,
            SourceETag = info.ETag,
            ConvertedAt = time.GetUtcNow(),
            BytesMoved = 0,
            WeightsOnlyChanges = weightsOnly ? ["none recorded: adopted a weights-only variant already in place"] : null,
        };
    }

    private async Task<bool> StillThereAsync(StorageUri target, ArtifactVariant variant, CancellationToken cancellationToken)
    {
        try
        {
            return (await stores.For(target).StatAsync(target, cancellationToken).ConfigureAwait(false)).ETag == variant.ETag;
        }
        catch (StorageException e) when (e.Kind == StorageErrorKind.NotFound)
        {
            return false;
        }
    }

    // Variants the status recorded that are no longer kept: a device no longer targeted or unused past
    // its TTL, and one now laid elsewhere (a variant prefix set or changed), which would otherwise be
    // left in the bucket with nothing pointing at it. Never the source; never outside the namespace's
    // prefixes (the status is not ours alone to write).
    private async Task DropUnwantedAsync(string @namespace, StorageUri source, ArtifactSpec spec, ArtifactStatus current, List<ArtifactVariant> kept, CancellationToken cancellationToken)
    {
        if (spec.VariantDeletionPolicy == VariantDeletionPolicy.Retain)
        {
            return;
        }

        foreach (var old in current.Variants ?? [])
        {
            var uri = StorageUri.Parse(old.Uri);
            if (uri != source && !kept.Any(v => v.Uri == old.Uri) && policy.Allows(@namespace, uri))
            {
                await DeleteVariantAsync(uri, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static InspectedSource Inspected(ObjectInfo info, ArtifactDescription description) => new()
    {
        Size = info.Size,
        ETag = info.ETag,
        Devices = [.. description.Totals.Locations.Keys.Order(StringComparer.Ordinal)],
        TensorCount = description.Totals.Tensors,
        Dtypes = [.. description.Totals.Dtypes.Keys.Order(StringComparer.Ordinal)],
        Kind = System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(description.Kind.ToString()),
        Hyperparameters = description.Hyperparameters,
        WeightsOnly = WeightsOnly(description.WeightsOnly[^1]),
    };

    private static WeightsOnlyStatus WeightsOnly(WeightsOnlyVerdict newest) =>
        new() { Torch = newest.Torch, Loads = newest.Loads, BlockedBy = Bounded(newest.BlockedBy) };

    // A status is stored in etcd: a pickle naming hundreds of classes is summed up after 19 of them.
    internal static List<string> Bounded(IReadOnlyList<string> items) =>
        items.Count <= 20 ? [.. items] : [.. items.Take(19), $"and {items.Count - 19} more"];

    private ArtifactStatus Failed(ArtifactStatus current, long generation, bool inspected, string reason, string message)
    {
        var now = time.GetUtcNow();
        var conditions = Conditions.Set(current.Conditions, new Condition { Type = ConditionReasons.ReadyType, Status = ConditionStatus.False, Reason = reason, Message = message, ObservedGeneration = generation, LastTransitionTime = now });
        if (!inspected)
        {
            conditions = Conditions.Set(conditions, new Condition { Type = ConditionReasons.InspectedType, Status = ConditionStatus.False, Reason = reason, Message = message, ObservedGeneration = generation, LastTransitionTime = now });
        }

        return current with { Phase = ArtifactPhase.Failed, ObservedGeneration = generation, Conditions = conditions };
    }
}
