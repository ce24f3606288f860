using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Serilog;
using TorchFerry.Contract;
using TorchFerry.Crds;
using TorchFerry.Flyte;
using TorchFerry.Operator.Artifacts;
using TorchFerry.Runtime;
using TorchFerry.Storage;
using TorchFerry.Storage.Conversion;

namespace TorchFerry.Operator.Flyte;

/// <summary>
/// The Flyte glue. A task pod that succeeded (as Flyte decides: the pod, or its primary container while
/// sidecars run on) has its PyTorch outputs (outputs.pb under its output
/// prefix) registered as artifacts; a pending pod annotated <c>torchferry.io/target-device</c> has
/// that device added to the targets of every PyTorch blob in its inputs, so the variant is being
/// converted while the pod is scheduled. Artifact names are derived from blob URIs, so both sides
/// meet on the same resource whatever order they come in.
/// </summary>
internal sealed class FlytePodReconciler(IKubernetes client, ObjectStoreRouter stores, UriPolicy policy, EventRecorder events, TimeProvider time, ILogger log)
{
    // A busy artifact is asked for by many pods: its last use is written at most this often (or a
    // tenth of its TTL, when that is shorter).
    private static readonly TimeSpan UseRecordInterval = TimeSpan.FromMinutes(1);

    /// <summary>Most flyteworkflow owners one artifact keeps (about 5 KiB of references).</summary>
    internal const int MaxWorkflowOwners = 32;

    /// <summary>Most files and folders of other formats probed per LiteralMap.</summary>
    public const int MaxProbes = 1000;

    private readonly DirectoryVariants directories = new(stores, new TorchContentProbe(stores), policy.Variants);

    private const string Group = TensorArtifact.Group;
    private const string Version = TensorArtifact.Version;

    public async Task<ReconcileResult> ReconcileAsync(V1Pod pod, CancellationToken cancellationToken)
    {
        if (FlyteTaskPod.From(pod) is not { } task)
        {
            return ReconcileResult.Done;
        }

        if (FlyteTaskPod.Succeeded(pod, task) && task.OutputPrefix is { } prefix)
        {
            foreach (var blob in await BlobsAsync(task, prefix.TrimEnd('/') + "/outputs.pb", cancellationToken).ConfigureAwait(false))
            {
                var producer = new FlyteProducer { Project = task.Project, Domain = task.Domain, Execution = task.Execution, Node = task.Node, Task = task.Task, Output = blob.Path };
                await EnsureEachAsync(pod, task, blob, producer, device: null, cancellationToken).ConfigureAwait(false);
            }
        }
        else if (pod.Status?.Phase is null or "Pending"
            && pod.Metadata.Annotations is { } annotations
            && annotations.TryGetValue(Annotations.TargetDevice, out var wanted)
            && task.Inputs is { } inputs)
        {
            if (!TorchDevice.TryParse(wanted, out var device))
            {
                // Refused here, at the operator's edge: nothing is registered for it, the pod runs on.
                var problem = TorchDevice.Problem(wanted, "annotation " + Annotations.TargetDevice);
                log.Warning("{Namespace:l}/{Name:l}: {Problem:l}; its inputs are not converted", task.Namespace, task.Name, problem);
                await events.RecordAsync(pod, "Warning", ConditionReasons.InvalidAnnotation, problem + "; its inputs are not converted", cancellationToken).ConfigureAwait(false);
                return ReconcileResult.Done;
            }

            // A map subtask reads only its own item: converting the rest for it would be N² work for N subtasks.
            foreach (var blob in await BlobsAsync(task, inputs, cancellationToken, b => task.ArrayIndex is not { } i || MapTaskInputs.IsRead(b, i)).ConfigureAwait(false))
            {
                await EnsureEachAsync(pod, task, blob, producer: null, device.Name, cancellationToken).ConfigureAwait(false);
            }
        }

        return ReconcileResult.Done;
    }

    // The PyTorch blobs of a LiteralMap that the pod reads (wanted), those of other formats probed by content.
    private async Task<IReadOnlyList<PyTorchBlob>> BlobsAsync(FlyteTaskPod task, string literalMapUri, CancellationToken cancellationToken, Func<PyTorchBlob, bool>? wanted = null)
    {
        var uri = StorageUri.Parse(literalMapUri);
        if (!policy.Allows(task.Namespace, uri))
        {
            log.Warning("{Namespace:l}/{Name:l}: {Uri:l} is outside the namespace's allowed prefixes; not read", task.Namespace, task.Name, uri.ToUriString());
            return [];
        }

        try
        {
            var map = await stores.For(uri).ReadAllAsync(uri, FlyteTaskArgs.MaxLiteralMapBytes, cancellationToken).ConfigureAwait(false);
            var offloaded = await OffloadedAsync(task, map, cancellationToken).ConfigureAwait(false);
            var blobs = new List<PyTorchBlob>();
            var probes = 0;
            foreach (var blob in FlyteLiterals.FindPyTorchBlobs(map, offloaded, byContent: true).Where(wanted ?? (_ => true)))
            {
                // Files of other formats cost a read each: a map of thousands (a dataset of images) is
                // looked at up to a bound, as prepare-inputs does, and the rest left to it.
                if (blob.ByFormat || (++probes <= MaxProbes && await IsTorchFileAsync(task, blob, cancellationToken).ConfigureAwait(false)))
                {
                    // A folder is registered by its URI ending with '/', however the literal spells it.
                    blobs.Add(blob.IsDirectory ? blob with { Uri = DirectoryVariants.Folder(blob.Uri) } : blob);
                }
            }

            if (probes > MaxProbes)
            {
                log.Information("{Namespace:l}/{Name:l}: {Count} files and folders of other formats in {Uri:l}; the first {Max} looked at", task.Namespace, task.Name, probes, uri.ToUriString(), MaxProbes);
            }

            return blobs;
        }
        catch (StorageException e) when (e.Kind == StorageErrorKind.NotFound)
        {
            return []; // a task without outputs (or inputs)
        }
        catch (Exception e) when (e is StorageException { Kind: StorageErrorKind.Other } or InvalidDataException)
        {
            log.Warning("{Uri:l}: {Error:l}; not read", uri.ToUriString(), e.Message);
            return [];
        }
    }

    // A blob of another format (a FlyteFile) is a PyTorch artifact when its content is a torch.save
    // archive, a folder (a FlyteDirectory) when it holds some; each is read only within the namespace's
    // prefixes, and one that cannot be read is skipped.
    private async Task<bool> IsTorchFileAsync(FlyteTaskPod task, PyTorchBlob blob, CancellationToken cancellationToken)
    {
        try
        {
            var uri = StorageUri.Parse(blob.Uri);
            return policy.Allows(task.Namespace, uri)
                && (blob.IsDirectory
                    ? await directories.HoldsTorchFilesAsync(blob.Uri, cancellationToken).ConfigureAwait(false)
                    : await directories.Probe.IsTorchArchiveAsync(uri, cancellationToken).ConfigureAwait(false));
        }
        catch (Exception e) when (e is StorageException or ArgumentException)
        {
            log.Debug("{Namespace:l}/{Name:l}: {Path:l} at {Uri:l} not probed: {Error:l}", task.Namespace, task.Name, blob.Path, blob.Uri, e.Message);
            return false;
        }
    }

    // The files of the map's offloaded literals, under the same prefix rule and size bound as the map;
    // one that cannot be read costs its own blobs only.
    private async Task<Dictionary<string, byte[]>> OffloadedAsync(FlyteTaskPod task, byte[] map, CancellationToken cancellationToken)
    {
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var offloaded in FlyteLiterals.FindOffloaded(map))
        {
            try
            {
                var uri = StorageUri.Parse(offloaded.Uri);
                if (!policy.Allows(task.Namespace, uri))
                {
                    log.Warning("{Namespace:l}/{Name:l}: offloaded literal {Path:l} at {Uri:l} is outside the namespace's allowed prefixes; not read", task.Namespace, task.Name, offloaded.Path, offloaded.Uri);
                    continue;
                }

                var file = await stores.For(uri).ReadAllAsync(uri, FlyteTaskArgs.MaxLiteralMapBytes, cancellationToken).ConfigureAwait(false);
                FlyteLiterals.ValidateOffloaded(offloaded.Uri, file);
                files[offloaded.Uri] = file;
            }
            catch (Exception e) when (e is StorageException or ArgumentException or InvalidDataException)
            {
                log.Warning("{Namespace:l}/{Name:l}: offloaded literal {Path:l}: {Error:l}; its PyTorch blobs are not registered", task.Namespace, task.Name, offloaded.Path, e.Message);
            }
        }

        return files;
    }

    // One refused blob (an object the API server will never accept) must not keep the others from being registered.
    /// <summary>spec.ttlAfterUnused given to the artifacts registered here; null: none.</summary>
    public string? DefaultTtlAfterUnused { get; init; }

    private async Task EnsureEachAsync(V1Pod pod, FlyteTaskPod task, PyTorchBlob blob, FlyteProducer? producer, string? device, CancellationToken cancellationToken)
    {
        try
        {
            await EnsureArtifactAsync(task.Namespace, blob, producer, device, FlyteWorkflowOwner.Of(pod.Metadata), cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (ApiErrors.IsTerminal(e))
        {
            var message = $"{blob.Uri}: not registered, the API server refused it ({ApiErrors.Describe(e)})";
            log.Warning("{Namespace:l}/{Name:l}: {Message:l}", task.Namespace, task.Name, message);
            await events.RecordAsync(pod, "Warning", ConditionReasons.Rejected, message, cancellationToken).ConfigureAwait(false);
        }
    }

    // An artifact registered here is owned by the flyteworkflow of every execution that produced or
    // consumed it (not as controller, blocking nothing): Kubernetes collects it, and the finalizer its
    // variants, once propeller has garbage-collected the last of them. Hand-made artifacts get no owner.
    private async Task EnsureArtifactAsync(string @namespace, PyTorchBlob blob, FlyteProducer? producer, string? device, V1OwnerReference? owner, CancellationToken cancellationToken)
    {
        var (plural, kind) = blob.Format == nameof(FlyteBlobFormat.PyTorchCheckpoint) ? (CheckpointArtifact.Plural, nameof(CheckpointArtifact)) : (TensorArtifact.Plural, nameof(TensorArtifact));
        var name = ArtifactNames.For(blob.Uri);
        for (var attempt = 0; attempt < 5; attempt++)
        {
            ArtifactSpec? spec = null;
            V1ObjectMeta? metadata = null;
            try
            {
                var existing = (JsonElement)await client.CustomObjects.GetNamespacedCustomObjectAsync(Group, Version, @namespace, plural, name, cancellationToken).ConfigureAwait(false);
                var artifact = KubernetesJson.Deserialize<CheckpointArtifact>(existing.GetRawText());
                spec = artifact.Spec;
                metadata = artifact.Metadata;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
            {
            }

            try
            {
                if (spec is null)
                {
                    var created = new JsonObject
                    {
                        ["apiVersion"] = $"{Group}/{Version}",
                        ["kind"] = kind,
                        ["metadata"] = new JsonObject
                        {
                            ["name"] = name,
                            ["namespace"] = @namespace,
                            ["labels"] = new JsonObject { [ManagedObjects.ManagedByLabel] = ManagedObjects.ManagedBy },
                        },
                        ["spec"] = JsonNode.Parse(KubernetesJson.Serialize(new ArtifactSpec
                        {
                            Source = new ArtifactSource { Uri = blob.Uri, Format = blob.IsDirectory ? FlyteBlobFormat.TorchDirectory : blob.ByFormat ? Enum.Parse<FlyteBlobFormat>(blob.Format) : FlyteBlobFormat.TorchFile },
                            Producer = producer,
                            TargetDevices = device is null ? [] : [device],
                            TtlAfterUnused = DefaultTtlAfterUnused,
                        })),
                    };
                    if (device is not null)
                    {
                        created["metadata"]!["annotations"] = new JsonObject { [Annotations.LastUsed(device)] = VariantExpiry.Stamp(time.GetUtcNow()) };
                    }

                    if (owner is not null)
                    {
                        created["metadata"]!["ownerReferences"] = JsonNode.Parse(KubernetesJson.Serialize(new[] { FlyteWorkflowOwner.Dependent(owner) }));
                    }

                    await client.CustomObjects.CreateNamespacedCustomObjectAsync(created, Group, Version, @namespace, plural, cancellationToken: cancellationToken).ConfigureAwait(false);
                    log.Information("{Namespace:l}: registered {Kind:l} {Name:l} for {Uri:l}", @namespace, kind, name, blob.Uri);
                    return;
                }

                var addDevice = device is not null && !(spec.TargetDevices ?? []).Contains(device);
                var managed = metadata!.Labels?.TryGetValue(ManagedObjects.ManagedByLabel, out var by) == true && by == ManagedObjects.ManagedBy;
                var addOwner = managed && owner is not null && metadata.OwnerReferences?.Any(o => o.Uid == owner.Uid) != true;
                var now = time.GetUtcNow();
                var expiry = VariantExpiry.Of(spec, metadata.Annotations, created: null);
                var interval = expiry.Ttl is { } ttl && ttl / 10 < UseRecordInterval ? ttl / 10 : UseRecordInterval;
                var recordUse = device is not null && !(expiry.LastUse(device) is { } at && now - at < interval);
                if (!addDevice && !addOwner && !recordUse)
                {
                    return;
                }

                // The resourceVersion makes this a compare-and-swap: a concurrent change is retried, not lost.
                var changes = new JsonObject { ["resourceVersion"] = metadata.ResourceVersion };
                if (recordUse)
                {
                    changes["annotations"] = new JsonObject { [Annotations.LastUsed(device!)] = VariantExpiry.Stamp(now) };
                }

                if (addOwner)
                {
                    changes["ownerReferences"] = JsonNode.Parse(KubernetesJson.Serialize(WithOwner(metadata.OwnerReferences, owner!)));
                }

                var patch = new JsonObject { ["metadata"] = changes };
                if (addDevice)
                {
                    patch["spec"] = new JsonObject { ["targetDevices"] = new JsonArray([.. (spec.TargetDevices ?? []).Append(device!).Select(d => (JsonNode?)d)]) };
                }

                await client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch), Group, Version, @namespace, plural, name, cancellationToken: cancellationToken).ConfigureAwait(false);
                if (addDevice)
                {
                    log.Information("{Namespace:l}: {Name:l} now also targets {Device:l}", @namespace, name, device);
                }

                if (addOwner)
                {
                    log.Information("{Namespace:l}: {Name:l} now also belongs to execution {Execution:l}", @namespace, name, owner!.Name);
                }

                return;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                // Created or changed meanwhile: read it again.
            }
        }

        throw new IOException($"{@namespace}/{name}: kept conflicting with concurrent changes");
    }

    // A checkpoint every execution reads would gather an owner per execution until the object passed
    // etcd's size limit: the newest executions are kept (propeller collects the oldest first), and the
    // garbage collector drops the references of collected ones. Owners that are not workflows stay.
    private static List<V1OwnerReference> WithOwner(IList<V1OwnerReference>? current, V1OwnerReference owner)
    {
        var others = (current ?? []).Where(o => !FlyteWorkflowOwner.Is(o)).ToList();
        var workflows = (current ?? []).Where(FlyteWorkflowOwner.Is).Append(FlyteWorkflowOwner.Dependent(owner)).ToList();
        return [.. others, .. workflows.Skip(Math.Max(0, workflows.Count - MaxWorkflowOwners))];
    }
}
