using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport.Kubernetes;

/// <summary>
/// Kubernetes' garbage collector, as kube-controller-manager runs it with background propagation: when
/// an object is removed, every object naming it (by uid) in <c>metadata.ownerReferences</c> whose
/// owners are now all gone is deleted (finalizers first, as any delete), and one with other owners
/// left loses the reference to the removed one; an object created with
/// owner references none of which exists is deleted at once, as the real collector deletes
/// dependents of absent owners. Owners are found by uid in the dependent's namespace or at cluster
/// scope, as the collector verifies them.
/// </summary>
public sealed partial class KubeApiEmulator
{
    private readonly Queue<JsonObject> pendingCollections = new();
    private bool collecting;

    /// <summary>Objects the garbage collector deleted, as "plural namespace/name", in order.</summary>
    public IReadOnlyList<string> Collected
    {
        get
        {
            lock (gate)
            {
                return [.. collected];
            }
        }
    }

    private readonly List<string> collected = [];

    // Called under the gate after every commit; deletions it makes commit again, so it drains a queue
    // instead of recursing (an owner chain of any length is collected in one pass).
    private void CollectDependents()
    {
        if (collecting)
        {
            return;
        }

        collecting = true;
        try
        {
            while (pendingCollections.TryDequeue(out var removed))
            {
                if (removed["metadata"]?["uid"]?.GetValue<string>() is not { } uid)
                {
                    continue;
                }

                foreach (var (type, key, dependent) in Dependents(uid).ToList())
                {
                    if (OwnerUids(dependent).All(o => !Exists(o, Namespace(dependent))))
                    {
                        CollectGarbage(type, key, dependent);
                    }
                    else
                    {
                        // Other owners remain: the collector removes the reference to the one that went.
                        var kept = (JsonObject)dependent.DeepClone();
                        var owners = (JsonArray)kept["metadata"]!["ownerReferences"]!;
                        foreach (var gone in owners.Where(o => o?["uid"]?.GetValue<string>() == uid).ToList())
                        {
                            owners.Remove(gone);
                        }

                        Commit(type, key, kept, "MODIFIED");
                    }
                }
            }
        }
        finally
        {
            collecting = false;
        }
    }

    private void CollectIfOwnersAbsent(ResourceType type, string @namespace, string name, JsonObject created)
    {
        var owners = OwnerUids(created);
        if (owners.Count > 0 && owners.All(o => !Exists(o, @namespace)))
        {
            CollectGarbage(type, $"{@namespace}/{name}", created);
        }
    }

    private void CollectGarbage(ResourceType type, string key, JsonObject dependent)
    {
        var name = dependent["metadata"]!["name"]!.GetValue<string>();
        collected.Add($"{type.Plural} {key}");
        Delete(type, Namespace(dependent), name);
    }

    // The collector's graph: objects by uid, and dependents by owner uid (kept on every commit, so a
    // cluster of 100,000 pods is collected without scanning it).
    private readonly Dictionary<string, (ResourceType Type, string Key)> byUid = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<(ResourceType Type, string Key)>> dependentsByOwner = new(StringComparer.Ordinal);

    private void Index(ResourceType type, string key, JsonObject? previous, JsonObject? next)
    {
        if (previous?["metadata"]?["uid"]?.GetValue<string>() is { } old)
        {
            byUid.Remove(old);
            foreach (var owner in OwnerUids(previous))
            {
                if (dependentsByOwner.TryGetValue(owner, out var set) && set.Remove((type, key)) && set.Count == 0)
                {
                    dependentsByOwner.Remove(owner);
                }
            }
        }

        if (next?["metadata"]?["uid"]?.GetValue<string>() is { } uid)
        {
            byUid[uid] = (type, key);
            foreach (var owner in OwnerUids(next))
            {
                if (!dependentsByOwner.TryGetValue(owner, out var set))
                {
                    dependentsByOwner[owner] = set = [];
                }

                set.Add((type, key));
            }
        }
    }

    private IEnumerable<(ResourceType Type, string Key, JsonObject Object)> Dependents(string ownerUid) =>
        dependentsByOwner.TryGetValue(ownerUid, out var set)
            ? set.Select(d => (d.Type, d.Key, objects[Key(d.Type.Group, d.Type.Version, d.Type.Plural)][d.Key]))
            : [];

    private bool Exists(string uid, string @namespace) =>
        byUid.TryGetValue(uid, out var found) && (!found.Type.Namespaced || found.Key.StartsWith(@namespace + "/", StringComparison.Ordinal));

    private static List<string> OwnerUids(JsonObject obj) =>
        obj["metadata"]?["ownerReferences"] is JsonArray owners
            ? [.. owners.Select(o => o?["uid"]?.GetValue<string>()).OfType<string>()]
            : [];

    private static string Namespace(JsonObject obj) => obj["metadata"]?["namespace"]?.GetValue<string>() ?? string.Empty;
}
