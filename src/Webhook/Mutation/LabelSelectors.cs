using k8s.Models;

namespace TorchFerry.Webhook.Mutation;

/// <summary>Kubernetes label selector semantics (matchLabels and In, NotIn, Exists, DoesNotExist).</summary>
internal static class LabelSelectors
{
    public static bool Matches(V1LabelSelector selector, IDictionary<string, string> labels)
    {
        ArgumentNullException.ThrowIfNull(selector);
        ArgumentNullException.ThrowIfNull(labels);
        foreach (var (key, value) in selector.MatchLabels ?? new Dictionary<string, string>())
        {
            if (!labels.TryGetValue(key, out var actual) || actual != value)
            {
                return false;
            }
        }

        foreach (var requirement in selector.MatchExpressions ?? [])
        {
            var has = labels.TryGetValue(requirement.Key, out var actual);
            var values = requirement.Values ?? [];
            var ok = requirement.OperatorProperty switch
            {
                "In" => has && values.Contains(actual!),
                "NotIn" => !has || !values.Contains(actual!),
                "Exists" => has,
                "DoesNotExist" => !has,
                _ => false, // an operator we do not know never matches
            };
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>How specific a selector is: the number of its requirements.</summary>
    public static int Specificity(V1LabelSelector selector) =>
        (selector?.MatchLabels?.Count ?? 0) + (selector?.MatchExpressions?.Count ?? 0);
}
