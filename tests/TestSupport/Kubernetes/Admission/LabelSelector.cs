using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport.Kubernetes.Admission;

/// <summary>metav1.LabelSelector matching (matchLabels and matchExpressions: In, NotIn, Exists, DoesNotExist); a missing selector matches everything.</summary>
internal static class LabelSelector
{
    public static bool Matches(JsonNode? selector, IReadOnlyDictionary<string, string> labels)
    {
        if (selector is not JsonObject s)
        {
            return true;
        }

        foreach (var (key, value) in (s["matchLabels"] as JsonObject) ?? [])
        {
            if (!labels.TryGetValue(key, out var actual) || actual != value?.GetValue<string>())
            {
                return false;
            }
        }

        return ((s["matchExpressions"] as JsonArray) ?? []).OfType<JsonObject>().All(e =>
            Holds(e, labels) ?? throw new ApiError(422, "Invalid", $"{e["operator"]} is not a valid label selector operator"));
    }

    /// <summary>
    /// Whether labels meet one requirement (In, NotIn, Exists, DoesNotExist), as label selectors and
    /// node selector terms both write them; null for another operator.
    /// </summary>
    public static bool? Holds(JsonObject expression, IReadOnlyDictionary<string, string> labels)
    {
        var has = labels.TryGetValue(expression["key"]!.GetValue<string>(), out var actual);
        var values = ((expression["values"] as JsonArray) ?? []).Select(v => v!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
        return expression["operator"]!.GetValue<string>() switch
        {
            "In" => has && values.Contains(actual!),
            "NotIn" => !has || !values.Contains(actual!),
            "Exists" => has,
            "DoesNotExist" => !has,
            _ => null,
        };
    }

    public static IReadOnlyDictionary<string, string> Labels(JsonObject obj) =>
        ((obj["metadata"]?["labels"] as JsonObject) ?? []).ToDictionary(kv => kv.Key, kv => kv.Value?.ToString() ?? string.Empty, StringComparer.Ordinal);
}
