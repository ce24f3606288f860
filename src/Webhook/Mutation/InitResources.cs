using System.Text.Json;
using System.Text.Json.Nodes;

namespace TorchFerry.Webhook.Mutation;

/// <summary>
/// CPU and memory requests and limits of the prepare-inputs init container, all four always set:
/// a namespace with a compute ResourceQuota (flyte-core's default) refuses a pod whose init
/// container lacks a limit.
/// </summary>
internal sealed record InitResources(string CpuRequest, string CpuLimit, string MemoryRequest, string MemoryLimit)
{
    public static InitResources Default { get; } = new("50m", "500m", "64Mi", "256Mi");

    /// <summary><c>--prepare-inputs-resources</c>: <c>{"requests": {"cpu", "memory"}, "limits": {"cpu", "memory"}}</c>, each a quantity, requests no larger than limits.</summary>
    /// <exception cref="ArgumentException">Anything else: the webhook does not start.</exception>
    public static InitResources Parse(string? json)
    {
        if (json is null)
        {
            return Default;
        }

        const string Expected = "--prepare-inputs-resources: expected {\"requests\": {\"cpu\": \"50m\", \"memory\": \"64Mi\"}, \"limits\": {\"cpu\": \"500m\", \"memory\": \"256Mi\"}}";
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{Expected} ({e.Message})", e);
        }

        string Value(string kind, string resource)
        {
            // Helm values may hold a quantity as a number (cpu: 1), as Kubernetes accepts it.
            var text = node?[kind]?[resource] is JsonValue v && v.GetValueKind() is JsonValueKind.String or JsonValueKind.Number ? v.ToString() : throw new ArgumentException($"{Expected}; {kind}.{resource} is missing");
            return Quantity(text) is not null ? text : throw new ArgumentException($"--prepare-inputs-resources {kind}.{resource} '{text}': not a quantity");
        }

        var parsed = new InitResources(Value("requests", "cpu"), Value("limits", "cpu"), Value("requests", "memory"), Value("limits", "memory"));
        return Quantity(parsed.CpuRequest) > Quantity(parsed.CpuLimit) || Quantity(parsed.MemoryRequest) > Quantity(parsed.MemoryLimit)
            ? throw new ArgumentException("--prepare-inputs-resources: a request is larger than its limit")
            : parsed;
    }

    /// <summary>
    /// The init container's resources for a task container: each limit no larger than the task's own
    /// (the pod's effective limits, the larger of the biggest init container and the sum of the
    /// containers, and so its quota usage stay what they were), each request no larger than its limit.
    /// </summary>
    public JsonObject For(JsonObject task)
    {
        var limits = new JsonObject();
        var requests = new JsonObject();
        foreach (var (resource, request, limit) in new[] { ("cpu", CpuRequest, CpuLimit), ("memory", MemoryRequest, MemoryLimit) })
        {
            var bound = task["resources"]?["limits"]?[resource]?.ToString() is { } taskLimit && Quantity(taskLimit) is { } parsed && parsed < Quantity(limit) ? taskLimit : limit;
            limits[resource] = bound;
            requests[resource] = Quantity(bound) < Quantity(request) ? bound : request;
        }

        return new JsonObject { ["requests"] = requests, ["limits"] = limits };
    }

    private static decimal? Quantity(string text)
    {
        try
        {
            return new k8s.Models.ResourceQuantity(text).ToDecimal();
        }
        catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
        {
            return null;
        }
    }
}
