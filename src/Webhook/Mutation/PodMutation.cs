using System.Text.Json.Nodes;

namespace TorchFerry.Webhook.Mutation;

/// <summary>An RFC 6902 patch for a pod, what it applies and which existing settings it kept.</summary>
internal sealed record PodMutation(JsonArray Patch, IReadOnlyList<string> Applied, IReadOnlyList<string> Conflicts)
{
    public static PodMutation None { get; } = new([], [], []);

    public bool IsEmpty => Patch.Count == 0;
}
