using k8s.Models;

namespace TorchFerry.Contract;

/// <summary>
/// The <c>flyteworkflow</c> object (flyte.lyft.com) flytepropeller names as the owner of every task pod
/// of an execution. Propeller's garbage collection deletes it once the workflow is done and past its
/// TTL; whatever names it as an owner is then collected by Kubernetes.
/// </summary>
public static class FlyteWorkflowOwner
{
    public const string Group = "flyte.lyft.com";

    public const string Kind = "flyteworkflow";

    /// <summary>The flyteworkflow among <paramref name="meta"/>'s owners, or null.</summary>
    public static V1OwnerReference? Of(V1ObjectMeta meta)
    {
        ArgumentNullException.ThrowIfNull(meta);
        return meta.OwnerReferences?.FirstOrDefault(Is);
    }

    /// <summary>Whether <paramref name="owner"/> names a flyteworkflow (by uid).</summary>
    public static bool Is(V1OwnerReference owner)
    {
        ArgumentNullException.ThrowIfNull(owner);
        return owner.ApiVersion?.StartsWith(Group + "/", StringComparison.Ordinal) == true
            && string.Equals(owner.Kind, Kind, StringComparison.OrdinalIgnoreCase)
            && !string.IsNullOrEmpty(owner.Uid);
    }

    /// <summary>
    /// A reference to the same owner for another object: not its controller and blocking nothing
    /// (blockOwnerDeletion would need delete rights on flyteworkflows and hold up propeller's GC).
    /// </summary>
    public static V1OwnerReference Dependent(V1OwnerReference owner)
    {
        ArgumentNullException.ThrowIfNull(owner);
        return new V1OwnerReference { ApiVersion = owner.ApiVersion, Kind = owner.Kind, Name = owner.Name, Uid = owner.Uid };
    }
}
