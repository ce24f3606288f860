using System.Text.Json.Nodes;

namespace TorchFerry.Webhook.Mutation;

/// <summary>An RFC 6902 patch for a pod, what it applies and which existing settings it kept.</summary>
internal sealed record PodMutation(JsonArray Patch, IReadOnlyList<string> Applied, IReadOnlyList<string> Conflicts)
{
    /// <summary>Why an inputs device was refused (one line naming where it came from), or null.</summary>
    public string? RefusedInputsDevice { get; init; }

    public static PodMutation None { get; } = new([], [], []);

    public bool IsEmpty => Patch.Count == 0;
}
