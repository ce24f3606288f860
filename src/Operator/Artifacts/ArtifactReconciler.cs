using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Serilog;
using TorchFerry.Contract;
using TorchFerry.Crds;
using TorchFerry.Runtime;

namespace TorchFerry.Operator.Artifacts;

/// <summary>
/// Reconciles TensorArtifacts and CheckpointArtifacts: adds the finalizer before making any
/// variant, syncs variants into status (written through the status subresource, retried on
/// conflict), records Events, and on deletion removes the variants before letting the object go.
/// </summary>
internal sealed class ArtifactReconciler<T>(IKubernetes client, ArtifactSynchronizer synchronizer, EventRecorder events, string plural, TimeProvider time, ILogger log)
    where T : TorchFerryResource<ArtifactSpec, ArtifactStatus>
{
    private const string Finalizer = ManagedObjects.VariantsFinalizer;
    private static readonly TimeSpan RetryFailed = TimeSpan.FromSeconds(30);

    // Stores send no change notifications: a ready artifact re-checks its source's ETag this often.
    private static readonly TimeSpan RecheckSource = TimeSpan.FromMinutes(10);

    public async Task<ReconcileResult> ReconcileAsync(T item, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(item);
        var (ns, name) = (item.Metadata.NamespaceProperty, item.Metadata.Name);
        if (item.Metadata.DeletionTimestamp is not null)
        {
            if (Finalizers.Remove(item.Metadata, Finalizer) is { } release)
            {
                await synchronizer.CleanupAsync(ns, item.Spec, item.Status, cancellationToken).ConfigureAwait(false);
                await PatchAsync(name, ns, release, cancellationToken).ConfigureAwait(false);
                log.Information("{Namespace:l}/{Name:l}: variants cleaned up, finalizer removed", ns, name);
            }

            return ReconcileResult.Done;
        }

        if (Finalizers.Add(item.Metadata, Finalizer) is { } hold)
        {
            // Before any variant exists, so a deletion can always clean up what we made.
            await PatchAsync(name, ns, hold, cancellationToken).ConfigureAwait(false);
            return ReconcileResult.Done; // the update brings the object back through the queue
        }

        var previous = item.Status;
        var created = item.Metadata.CreationTimestamp is { } at ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)) : (DateTimeOffset?)null;
        var expiry = VariantExpiry.Of(item.Spec, item.Metadata.Annotations, created);
        var status = await synchronizer.SyncAsync(ns, item.Spec, previous, item.Metadata.Generation ?? 0, cancellationToken, expiry).ConfigureAwait(false);
        if (!SameJson(status, previous))
        {
            await WriteStatusAsync(item, status, cancellationToken).ConfigureAwait(false);
            var ready = status.Conditions?.FirstOrDefault(c => c.Type == ConditionReasons.ReadyType);
            if (status.Phase == ArtifactPhase.Failed)
            {
                await events.RecordAsync(item, "Warning", ready?.Reason ?? "Failed", ready?.Message ?? "failed", cancellationToken).ConfigureAwait(false);
            }
            else if (!SameJson(status.Variants, previous?.Variants))
            {
                await events.RecordAsync(item, "Normal", "VariantsReady", ready?.Message ?? "variants ready", cancellationToken).ConfigureAwait(false);
            }
        }

        // A forbidden URI or device will not fix itself: the next spec change brings the object back.
        // A source that is not a usable archive may be replaced: look again when ready ones do.
        var outcome = status.Conditions?.FirstOrDefault(c => c.Type == ConditionReasons.ReadyType);
        return (status.Phase, outcome?.Reason) switch
        {
            (ArtifactPhase.Failed, ConditionReasons.ForbiddenUri or ConditionReasons.InvalidDevice) => throw new TerminalReconcileException($"{ns}/{name}: {outcome!.Message}"),
            (ArtifactPhase.Failed, ConditionReasons.SourceUnavailable or ConditionReasons.ConversionFailed) => new ReconcileResult(RetryFailed),
            _ => new ReconcileResult(NextCheck(status, expiry)),
        };
    }

    // The source is re-checked every 10 minutes; a variant that expires sooner is looked at then.
    private TimeSpan NextCheck(ArtifactStatus status, VariantExpiry expiry)
    {
        var next = RecheckSource;
        foreach (var variant in status.Variants ?? [])
        {
            if (expiry.ExpiresAt(variant.Device, variant) is { } end)
            {
                var wait = end - time.GetUtcNow() + TimeSpan.FromMilliseconds(100);
                next = wait < next ? (wait < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : wait) : next;
            }
        }

        return next;
    }

    private async Task WriteStatusAsync(T item, ArtifactStatus status, CancellationToken cancellationToken)
    {
        // A copy: the informer's cached object must not change under it.
        var current = KubernetesJson.Deserialize<T>(KubernetesJson.Serialize(item));
        for (var attempt = 0; ; attempt++)
        {
            current.Status = status;
            try
            {
                await client.CustomObjects.ReplaceNamespacedCustomObjectStatusAsync(current, TorchFerryResource<ArtifactSpec, ArtifactStatus>.Group, TorchFerryResource<ArtifactSpec, ArtifactStatus>.Version, current.Metadata.NamespaceProperty, plural, current.Metadata.Name, cancellationToken: cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict && attempt < 5)
            {
                // Someone wrote meanwhile: take their version and write our status onto it.
                var fresh = await client.CustomObjects.GetNamespacedCustomObjectAsync(TorchFerryResource<ArtifactSpec, ArtifactStatus>.Group, TorchFerryResource<ArtifactSpec, ArtifactStatus>.Version, item.Metadata.NamespaceProperty, plural, item.Metadata.Name, cancellationToken).ConfigureAwait(false);
                current = KubernetesJson.Deserialize<T>(((JsonElement)fresh).GetRawText());
            }
        }
    }

    private Task<object> PatchAsync(string name, string ns, V1Patch patch, CancellationToken cancellationToken) =>
        client.CustomObjects.PatchNamespacedCustomObjectAsync(patch, TorchFerryResource<ArtifactSpec, ArtifactStatus>.Group, TorchFerryResource<ArtifactSpec, ArtifactStatus>.Version, ns, plural, name, cancellationToken: cancellationToken);

    private static bool SameJson<TValue>(TValue? a, TValue? b)
        where TValue : class =>
        a is null || b is null ? a is null && b is null : KubernetesJson.Serialize(a) == KubernetesJson.Serialize(b);
}
