using TorchFerry.Crds;

namespace TorchFerry.Webhook.Mutation;

/// <summary>
/// The DeviceProfile for a pod: among the profiles of its namespace whose selector matches its labels,
/// the highest priority, then the most specific selector, then the first name in order (so the
/// choice never depends on list order).
/// </summary>
internal static class DeviceProfileMatcher
{
    public static DeviceProfile? Best(IEnumerable<DeviceProfile> profiles, string @namespace, IDictionary<string, string> labels) =>
        profiles
            .Where(p => p.Metadata.NamespaceProperty == @namespace && p.Metadata.DeletionTimestamp is null && LabelSelectors.Matches(p.Spec.Selector, labels))
            .OrderByDescending(p => p.Spec.Priority ?? 0)
            .ThenByDescending(p => LabelSelectors.Specificity(p.Spec.Selector))
            .ThenBy(p => p.Metadata.Name, StringComparer.Ordinal)
            .FirstOrDefault();
}
