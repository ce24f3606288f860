using System.Globalization;
using System.Text.RegularExpressions;

namespace TorchFerry.Contract;

/// <summary>
/// A duration as Kubernetes objects write one (Go's <c>time.ParseDuration</c> with the units that make
/// sense for lifetimes: <c>h</c>, <c>m</c>, <c>s</c>): <c>168h</c>, <c>1h30m</c>, <c>90s</c>.
/// </summary>
public static partial class KubeDuration
{
    /// <summary>The pattern CRD schemas and the chart check.</summary>
    public const string Pattern = "^([0-9]{1,6}(h|m|s))+$";

    /// <summary>Parses <paramref name="text"/>; false for anything else, zero included.</summary>
    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (text is null || !Whole().IsMatch(text))
        {
            return false;
        }

        foreach (Match part in Part().Matches(text))
        {
            var value = long.Parse(part.Groups[1].Value, CultureInfo.InvariantCulture);
            duration += part.Groups[2].Value switch
            {
                "h" => TimeSpan.FromHours(value),
                "m" => TimeSpan.FromMinutes(value),
                _ => TimeSpan.FromSeconds(value),
            };
        }

        return duration > TimeSpan.Zero;
    }

    [GeneratedRegex(Pattern, RegexOptions.CultureInvariant)]
    private static partial Regex Whole();

    [GeneratedRegex("([0-9]{1,6})(h|m|s)", RegexOptions.CultureInvariant)]
    private static partial Regex Part();
}
