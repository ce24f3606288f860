using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace TorchFerry.Yaml;

/// <summary>
/// Writes a JSON tree as block-style YAML, the way Kubernetes manifests are written: plain scalars
/// where YAML reads them back as the same string, JSON-quoted otherwise.
/// </summary>
public static partial class YamlWriter
{
    // JSON string syntax is YAML's double-quoted style; keep <, >, + and ' readable.
    private static readonly JsonSerializerOptions Quoting = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly HashSet<string> Reserved = new(StringComparer.OrdinalIgnoreCase)
    {
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~",
    };

    /// <summary>The YAML text of <paramref name="node"/> (a mapping or sequence), ending in a newline.</summary>
    public static string Write(JsonNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var builder = new StringBuilder();
        WriteBlock(builder, node, 0);
        return builder.ToString();
    }

    private static void WriteBlock(StringBuilder builder, JsonNode node, int indent)
    {
        switch (node)
        {
            case JsonObject map:
                foreach (var (key, value) in map)
                {
                    builder.Append(' ', indent).Append(Scalar(key)).Append(':');
                    WriteValue(builder, value, indent);
                }

                break;
            case JsonArray list:
                foreach (var item in list)
                {
                    builder.Append(' ', indent).Append('-');
                    if (item is JsonObject { Count: > 0 } itemMap)
                    {
                        // The first key goes on the dash line; the rest align under it.
                        var first = true;
                        foreach (var (key, value) in itemMap)
                        {
                            builder.Append(first ? " " : new string(' ', indent + 2)).Append(Scalar(key)).Append(':');
                            WriteValue(builder, value, indent + 2);
                            first = false;
                        }
                    }
                    else
                    {
                        WriteValue(builder, item, indent);
                    }
                }

                break;
            default:
                throw new ArgumentException("a YAML document must be a mapping or a sequence", nameof(node));
        }
    }

    private static void WriteValue(StringBuilder builder, JsonNode? value, int indent)
    {
        switch (value)
        {
            case JsonObject { Count: 0 }:
                builder.Append(" {}\n");
                break;
            case JsonArray { Count: 0 }:
                builder.Append(" []\n");
                break;
            case JsonObject or JsonArray:
                builder.Append('\n');
                WriteBlock(builder, value, indent + 2);
                break;
            default:
                builder.Append(' ').Append(Leaf(value)).Append('\n');
                break;
        }
    }

    private static string Leaf(JsonNode? value)
    {
        if (value is null)
        {
            return "null";
        }

        return value.GetValueKind() switch
        {
            JsonValueKind.String => Scalar(value.GetValue<string>()),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => value.ToJsonString(),
        };
    }

    private static string Scalar(string text) =>
        PlainSafe().IsMatch(text) && !Reserved.Contains(text) && !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
            ? text
            : JsonValue.Create(text).ToJsonString(Quoting);

    [GeneratedRegex(@"^[A-Za-z_/][A-Za-z0-9_./\-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex PlainSafe();
}
