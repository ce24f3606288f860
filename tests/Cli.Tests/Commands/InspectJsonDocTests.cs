using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using TorchFerry.TestSupport;

namespace TorchFerry.Cli.Tests.Commands;

/// <summary>
/// docs/inspect-json.md's example is what <c>torchferry inspect --json</c> prints for the shipped
/// sample (first tensor and storage only), so it cannot drift. To regenerate it after a deliberate
/// change: <c>TORCHFERRY_UPDATE_DOCS=1 dotnet test tests/Cli.Tests --filter InspectJsonDoc</c>.
/// </summary>
public sealed class InspectJsonDocTests
{
    private const string Begin = "<!-- generated from samples/checkpoint-cuda.pt by tests/Cli.Tests/Commands/InspectJsonDocTests.cs -->";
    private const string End = "<!-- end of generated example -->";
    private const string Sample = "samples/checkpoint-cuda.pt";

    [Fact]
    public async Task InspectJsonDoc_Example_IsWhatInspectPrintsForTheShippedSample()
    {
        var (exitCode, output, _) = await CliRunner.RunAsync("inspect", Path.Combine(RepositoryPaths.Root, Sample), "--json");
        Assert.Equal(0, exitCode);
        var example = JsonNode.Parse(output)!.AsObject();
        example["source"] = Sample;
        foreach (var list in new[] { "tensors", "storages" })
        {
            var first = example[list]!.AsArray()[0]!.DeepClone();
            example[list] = new JsonArray(first);
        }

        var expected = $"{Begin}\n```json\n{Compact(example, 0)}\n```\n{End}";
        var doc = Path.Combine(RepositoryPaths.Root, "docs", "inspect-json.md");
        var text = await File.ReadAllTextAsync(doc);
        var (start, end) = (text.IndexOf(Begin, StringComparison.Ordinal), text.IndexOf(End, StringComparison.Ordinal));
        Assert.True(start >= 0 && end > start, $"{doc} has no generated example between its markers");
        var current = text[start..(end + End.Length)];
        if (Environment.GetEnvironmentVariable("TORCHFERRY_UPDATE_DOCS") == "1")
        {
            await File.WriteAllTextAsync(doc, text.Replace(current, expected, StringComparison.Ordinal));
            return;
        }

        Assert.Equal(expected, current);
    }

    // Indented JSON with short objects and arrays of scalars on one line, as people write examples.
    private static string Compact(JsonNode? node, int depth)
    {
        var pad = new string(' ', 2 * depth);
        var inner = new string(' ', 2 * (depth + 1));
        switch (node)
        {
            case JsonObject o when o.Count == 0:
                return "{}";
            case JsonArray a when a.Count == 0:
                return "[]";
            case JsonObject o when o.All(kv => kv.Value is JsonValue) && o.ToJsonString().Length <= 72:
                return "{ " + string.Join(", ", o.Select(kv => $"{JsonValue.Create(kv.Key).ToJsonString()}: {kv.Value!.ToJsonString()}")) + " }";
            case JsonArray a when a.All(v => v is JsonValue):
                return "[" + string.Join(", ", a.Select(v => v!.ToJsonString())) + "]";
            case JsonObject o:
                {
                    var text = new StringBuilder("{\n");
                    text.AppendJoin(",\n", o.Select(kv => $"{inner}{JsonValue.Create(kv.Key).ToJsonString()}: {Compact(kv.Value, depth + 1)}"));
                    return text.Append(CultureInfo.InvariantCulture, $"\n{pad}}}").ToString();
                }

            case JsonArray a:
                {
                    var text = new StringBuilder("[\n");
                    text.AppendJoin(",\n", a.Select(v => inner + Compact(v, depth + 1)));
                    return text.Append(CultureInfo.InvariantCulture, $"\n{pad}]").ToString();
                }

            default:
                return node?.ToJsonString() ?? "null";
        }
    }
}
