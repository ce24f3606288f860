using System.Text.Json.Nodes;
using k8s.Models;

namespace TorchFerry.Runtime;

/// <summary>
/// Finalizer patches with an optimistic lock, as controller-runtime's <c>MergeFromWithOptimisticLock</c>
/// makes them: a merge patch that sets the whole list and carries the resourceVersion the list was read
/// at, so a list read from a stale cache is refused with 409 (retried after the cache catches up)
/// instead of replacing finalizers another controller added meanwhile. Not a JSON-patch <c>test</c>:
/// a failed test is a 422, which reads as a request that can never succeed.
/// </summary>
internal static class Finalizers
{
    /// <summary>The patch that adds <paramref name="finalizer"/>, or null when it is already there.</summary>
    public static V1Patch? Add(V1ObjectMeta metadata, string finalizer)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var current = metadata.Finalizers ?? [];
        return current.Contains(finalizer) ? null : Patch(metadata, [.. current, finalizer]);
    }

    /// <summary>The patch that removes <paramref name="finalizer"/>, or null when it is not there.</summary>
    public static V1Patch? Remove(V1ObjectMeta metadata, string finalizer)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var current = metadata.Finalizers ?? [];
        return current.Contains(finalizer) ? Patch(metadata, [.. current.Where(f => f != finalizer)]) : null;
    }

    private static V1Patch Patch(V1ObjectMeta metadata, IEnumerable<string> finalizers)
    {
        var version = metadata.ResourceVersion is { Length: > 0 } known
            ? known
            : throw new ArgumentException($"{metadata.NamespaceProperty}/{metadata.Name} has no resourceVersion to guard its finalizers with", nameof(metadata));
        var patch = new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["resourceVersion"] = version,
                ["finalizers"] = new JsonArray([.. finalizers.Select(f => (JsonNode?)f)]),
            },
        };
        return new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch);
    }
}
