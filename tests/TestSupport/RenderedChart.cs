using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport;

/// <summary>The objects `helm template` rendered, with lookups by kind and name.</summary>
public sealed class RenderedChart(string release, string @namespace, IReadOnlyList<JsonObject> objects)
{
    public string Release { get; } = release;

    public string Namespace { get; } = @namespace;

    public IReadOnlyList<JsonObject> Objects { get; } = objects;

    public IEnumerable<JsonObject> OfKind(string kind) => Objects.Where(o => o["kind"]?.GetValue<string>() == kind);

    /// <summary>The one object of a kind (and name, when given); a clear failure otherwise.</summary>
    public JsonObject Single(string kind, string? name = null)
    {
        var matches = OfKind(kind).Where(o => name is null || o["metadata"]!["name"]!.GetValue<string>() == name).ToList();
        return matches.Count == 1
            ? matches[0]
            : throw new InvalidOperationException($"expected one {kind}{(name is null ? string.Empty : $" named {name}")}, rendered {matches.Count}: {string.Join(", ", OfKind(kind).Select(o => o["metadata"]!["name"]))}");
    }

    /// <summary>The Deployment of a component (label app.kubernetes.io/component).</summary>
    public JsonObject Deployment(string component) =>
        OfKind("Deployment").Single(d => d["metadata"]!["labels"]!["app.kubernetes.io/component"]!.GetValue<string>() == component);

    /// <summary>The PEM the webhook configuration's caBundle holds (absent with cert-manager, which injects it).</summary>
    public string CaBundlePem =>
        Text(Single("MutatingWebhookConfiguration")["webhooks"]![0]!["clientConfig"]!["caBundle"]
            ?? throw new InvalidOperationException("the webhook configuration has no caBundle"));

    /// <summary>A Secret's data entry as text (PEM certificates and keys).</summary>
    public static string SecretText(JsonNode secret, string key) => Text(secret["data"]![key]!);

    /// <summary>The arguments of a component's container, as "--flag" → value ("" for a bare flag).</summary>
    public IReadOnlyDictionary<string, string> Arguments(string component) =>
        Deployment(component)["spec"]!["template"]!["spec"]!["containers"]![0]!["args"]!.AsArray()
            .Select(a => a!.GetValue<string>().Split('=', 2))
            .ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : string.Empty);

    /// <summary>The environment variables of a component's container that have a literal value (not those from fields or secrets).</summary>
    public IReadOnlyDictionary<string, string> Environment(string component) =>
        (Deployment(component)["spec"]!["template"]!["spec"]!["containers"]![0]!["env"]?.AsArray() ?? [])
            .Where(e => e!["value"] is not null)
            .ToDictionary(e => e!["name"]!.GetValue<string>(), e => e!["value"]!.GetValue<string>());

    private static string Text(JsonNode base64) => System.Text.Encoding.ASCII.GetString(Convert.FromBase64String(base64.GetValue<string>()));
}
