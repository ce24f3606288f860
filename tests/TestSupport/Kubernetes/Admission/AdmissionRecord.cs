using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport.Kubernetes.Admission;

/// <summary>One call of a mutating webhook during a pod's admission, as the API server's audit log would show it.</summary>
/// <param name="Namespace">The pod's namespace.</param>
/// <param name="Name">The pod's name.</param>
/// <param name="Webhook">The webhook's name in its configuration.</param>
/// <param name="Outcome">"patched", "unchanged", "ignored: why" (failurePolicy Ignore), "failed: why" or "refused: why".</param>
/// <param name="Patch">The JSON patch it returned, if any.</param>
public sealed record AdmissionRecord(string Namespace, string Name, string Webhook, string Outcome, JsonArray? Patch);
