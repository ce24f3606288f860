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

        foreach (var expression in ((s["matchExpressions"] as JsonArray) ?? []).OfType<JsonObject>())
        {
            var key = expression["key"]!.GetValue<string>();
            var values = ((expression["values"] as JsonArray) ?? []).Select(v => v!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
            var has = labels.TryGetValue(key, out var actual);
            var ok = expression["operator"]!.GetValue<string>() switch
            {
                "In" => has && values.Contains(actual!),
                "NotIn" => !has || !values.Contains(actual!),
                "Exists" => has,
                "DoesNotExist" => !has,
                var other => throw new ApiError(422, "Invalid", $"{other} is not a valid label selector operator"),
            };
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    public static IReadOnlyDictionary<string, string> Labels(JsonObject obj) =>
        ((obj["metadata"]?["labels"] as JsonObject) ?? []).ToDictionary(kv => kv.Key, kv => kv.Value?.ToString() ?? string.Empty, StringComparer.Ordinal);
}
