using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace TorchFerry.Webhook.Mutation;

/// <summary>The webhook's GPU flags (propeller's settings), checked when it starts.</summary>
internal static partial class GpuArguments
{
    /// <exception cref="ArgumentException">A name that is not a qualified resource or label name, or tolerations that are not a JSON array of objects: the webhook does not start.</exception>
    public static GpuSettings Parse(string? resourceName, string? deviceNodeLabel, string? partitionSizeNodeLabel, string? tolerations)
    {
        var defaults = GpuSettings.Default;
        return new GpuSettings(
            Name(resourceName, "--gpu-resource-name") ?? defaults.ResourceName,
            Name(deviceNodeLabel, "--gpu-device-node-label") ?? defaults.DeviceNodeLabel,
            Name(partitionSizeNodeLabel, "--gpu-partition-size-node-label") ?? defaults.PartitionSizeNodeLabel,
            tolerations is null ? defaults.Tolerations : Tolerations(tolerations));
    }

    private static string? Name(string? value, string option) =>
        value is null ? null
        : QualifiedName().IsMatch(value) ? value
        : throw new ArgumentException($"{option} '{value}': not a qualified name (prefix/name, e.g. nvidia.com/gpu)");

    private static List<JsonObject> Tolerations(string json)
    {
        JsonNode? parsed;
        try
        {
            parsed = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"--gpu-tolerations: expected a JSON array of tolerations ({e.Message})", e);
        }

        return parsed is JsonArray array && array.All(t => t is JsonObject o && o["operator"]?.GetValueKind() is null or JsonValueKind.String)
            ? [.. array.Select(t => (JsonObject)t!.DeepClone())]
            : throw new ArgumentException("--gpu-tolerations: expected a JSON array of tolerations, e.g. [{\"key\": \"nvidia.com/gpu\", \"operator\": \"Exists\", \"effect\": \"NoSchedule\"}]");
    }

    [GeneratedRegex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")]
    private static partial Regex QualifiedName();
}
