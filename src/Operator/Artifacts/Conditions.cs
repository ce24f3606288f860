using TorchFerry.Crds;

namespace TorchFerry.Operator.Artifacts;

/// <summary>Condition lists as Kubernetes conventions want them: one per type, lastTransitionTime kept while the status holds.</summary>
internal static class Conditions
{
    public static IReadOnlyList<Condition> Set(IReadOnlyList<Condition>? conditions, Condition condition)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var list = (conditions ?? []).Where(c => c.Type != condition.Type).ToList();
        var previous = conditions?.FirstOrDefault(c => c.Type == condition.Type);
        list.Add(previous is not null && previous.Status == condition.Status
            ? condition with { LastTransitionTime = previous.LastTransitionTime }
            : condition);
        return list.OrderBy(c => c.Type, StringComparer.Ordinal).ToList();
    }
}
