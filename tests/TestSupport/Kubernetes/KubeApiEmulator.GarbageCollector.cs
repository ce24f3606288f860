using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport.Kubernetes;

/// <summary>
/// Kubernetes' garbage collector, as kube-controller-manager runs it with background propagation: when
/// an object is removed, every object naming it (by uid) in <c>metadata.ownerReferences</c> whose
/// owners are now all gone is deleted (finalizers first, as any delete); an object created with
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

    private IEnumerable<(ResourceType Type, string Key, JsonObject Object)> Dependents(string ownerUid) =>
        from type in types.Values
        from entry in objects[Key(type.Group, type.Version, type.Plural)]
        where OwnerUids(entry.Value).Contains(ownerUid)
        select (type, entry.Key, entry.Value);

    private bool Exists(string uid, string @namespace) =>
        types.Values.Any(type => objects[Key(type.Group, type.Version, type.Plural)].Values.Any(o =>
            o["metadata"]?["uid"]?.GetValue<string>() == uid
            && (!type.Namespaced || o["metadata"]?["namespace"]?.GetValue<string>() == @namespace)));

    private static List<string> OwnerUids(JsonObject obj) =>
        obj["metadata"]?["ownerReferences"] is JsonArray owners
            ? [.. owners.Select(o => o?["uid"]?.GetValue<string>()).OfType<string>()]
            : [];

    private static string Namespace(JsonObject obj) => obj["metadata"]?["namespace"]?.GetValue<string>() ?? string.Empty;
}
