using System.Globalization;

namespace TorchFerry.TestSupport.Kubernetes.Admission;

/// <summary>Kubernetes resource quantities ("500m", "2", "256Mi", "1G") as decimals, for quota sums.</summary>
internal static class Quantity
{
    private static readonly (string Suffix, decimal Factor)[] Suffixes =
    [
        ("Ki", 1024m), ("Mi", 1024m * 1024), ("Gi", 1024m * 1024 * 1024), ("Ti", 1024m * 1024 * 1024 * 1024),
        ("m", 0.001m), ("k", 1e3m), ("M", 1e6m), ("G", 1e9m), ("T", 1e12m),
    ];

    public static decimal Parse(string text)
    {
        foreach (var (suffix, factor) in Suffixes)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal) && decimal.TryParse(text[..^suffix.Length], NumberStyles.Number, CultureInfo.InvariantCulture, out var scaled))
            {
                return scaled * factor;
            }
        }

        return decimal.TryParse(text, NumberStyles.Number, CultureInfo.InvariantCulture, out var plain)
            ? plain
            : throw new ApiError(422, "Invalid", $"quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': \"{text}\"");
    }
}
