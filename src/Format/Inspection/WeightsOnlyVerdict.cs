namespace TorchFerry.Format.Inspection;

/// <summary>Whether <c>torch.load(weights_only=True)</c> of one torch release loads the archive (the device aside).</summary>
/// <param name="Torch">The release, <c>major.minor</c>: 1.13 (the first with weights_only) and 2.6 (where it became the default).</param>
/// <param name="Loads">True when nothing in the pickle is outside that release's allowlist.</param>
/// <param name="BlockedBy">What it refuses: globals (<c>module.Name</c>), then opcodes; empty when it loads.</param>
public sealed record WeightsOnlyVerdict(string Torch, bool Loads, IReadOnlyList<string> BlockedBy);
