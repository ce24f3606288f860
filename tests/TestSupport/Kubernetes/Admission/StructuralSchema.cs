using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace TorchFerry.TestSupport.Kubernetes.Admission;

/// <summary>
/// A CRD version's openAPIV3Schema applied as the API server applies it to a custom resource on every
/// write: unknown fields pruned (unless x-kubernetes-preserve-unknown-fields), defaults filled in,
/// then types, required fields, enums, patterns, lengths, item counts and bounds checked, each
/// failure with its field path. CEL rules (x-kubernetes-validations) are not evaluated.
/// </summary>
internal sealed class StructuralSchema(JsonObject root)
{
    private static readonly TimeSpan PatternTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Prunes and defaults <paramref name="obj"/> in place and returns what is invalid in it, as "path: problem".</summary>
    public IReadOnlyList<string> Admit(JsonObject obj)
    {
        var errors = new List<string>();
        Object(obj, root, string.Empty, errors);
        return errors;
    }

    private static void Walk(JsonNode? node, JsonObject schema, string path, List<string> errors)
    {
        if (node is null)
        {
            if (schema["nullable"]?.GetValue<bool>() != true)
            {
                errors.Add($"{path}: Invalid value: \"null\": {path} in body must be of type {schema["type"]}");
            }

            return;
        }

        var type = schema["type"]?.GetValue<string>();
        if (type is not null && !HasType(node, type))
        {
            errors.Add($"{path}: Invalid value: \"{Kind(node)}\": {path} in body must be of type {type}: \"{Kind(node)}\"");
            return;
        }

        if (schema["enum"] is JsonArray allowed && !allowed.Any(a => JsonNode.DeepEquals(a, node)))
        {
            errors.Add($"{path}: Unsupported value: {node.ToJsonString()}: supported values: {string.Join(", ", allowed.Select(a => a!.ToJsonString()))}");
        }

        switch (node)
        {
            case JsonObject obj:
                Object(obj, schema, path, errors);
                break;
            case JsonArray array:
                if (schema["maxItems"] is { } maxItems && array.Count > maxItems.GetValue<long>())
                {
                    errors.Add($"{path}: Too many: {array.Count}: must have at most {maxItems} items");
                }

                if (schema["minItems"] is { } minItems && array.Count < minItems.GetValue<long>())
                {
                    errors.Add($"{path}: Invalid value: {array.Count}: {path} in body should have at least {minItems} items");
                }

                if (schema["items"] is JsonObject items)
                {
                    for (var i = 0; i < array.Count; i++)
                    {
                        Walk(array[i], items, $"{path}[{i}]", errors);
                    }
                }

                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                var text = value.GetValue<string>();
                if (schema["pattern"]?.GetValue<string>() is { } pattern && !Regex.IsMatch(text, pattern, RegexOptions.None, PatternTimeout))
                {
                    errors.Add($"{path}: Invalid value: \"{text}\": {path} in body should match '{pattern}'");
                }

                if (schema["maxLength"] is { } maxLength && text.Length > maxLength.GetValue<long>())
                {
                    errors.Add($"{path}: Too long: may not be more than {maxLength} bytes");
                }

                if (schema["minLength"] is { } minLength && text.Length < minLength.GetValue<long>())
                {
                    errors.Add($"{path}: Invalid value: \"{text}\": {path} in body should be at least {minLength} chars long");
                }

                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.Number:
                var number = value.GetValue<double>();
                if (schema["minimum"] is { } minimum && number < minimum.GetValue<double>())
                {
                    errors.Add($"{path}: Invalid value: {value.ToJsonString()}: {path} in body should be greater than or equal to {minimum}");
                }

                if (schema["maximum"] is { } maximum && number > maximum.GetValue<double>())
                {
                    errors.Add($"{path}: Invalid value: {value.ToJsonString()}: {path} in body should be less than or equal to {maximum}");
                }

                break;
        }
    }

    private static void Object(JsonObject obj, JsonObject schema, string path, List<string> errors)
    {
        var properties = schema["properties"] as JsonObject;
        foreach (var (field, fieldSchema) in Properties(schema).Where(p => !OwnedByTheServer(path, p.Field)))
        {
            Default(obj, field, fieldSchema);
        }

        foreach (var field in obj.Select(kv => kv.Key).Where(f => !OwnedByTheServer(path, f)).ToList())
        {
            var child = Join(path, field);
            if (properties?[field] is JsonObject fieldSchema)
            {
                Walk(obj[field], fieldSchema, child, errors);
            }
            else if (schema["additionalProperties"] is JsonObject additional)
            {
                Walk(obj[field], additional, child, errors);
            }
            else if (schema["x-kubernetes-preserve-unknown-fields"]?.GetValue<bool>() != true && schema["additionalProperties"]?.GetValueKind() != JsonValueKind.True)
            {
                obj.Remove(field);
            }
        }

        foreach (var required in Required(schema).Where(r => !obj.ContainsKey(r)))
        {
            errors.Add($"{Join(path, required)}: Required value");
        }
    }

    // The API server owns a resource's metadata, apiVersion and kind; the schema speaks for the rest.
    private static bool OwnedByTheServer(string path, string field) => path.Length == 0 && field is "metadata" or "apiVersion" or "kind";

    private static string Join(string path, string field) => path.Length == 0 ? field : $"{path}.{field}";

    private static void Default(JsonObject obj, string field, JsonObject schema)
    {
        if (!obj.ContainsKey(field) && schema["default"] is { } value)
        {
            obj[field] = value.DeepClone();
        }
    }

    private static IEnumerable<(string Field, JsonObject Schema)> Properties(JsonObject schema) =>
        (schema["properties"] as JsonObject ?? []).Where(kv => kv.Value is JsonObject).Select(kv => (kv.Key, kv.Value!.AsObject()));

    private static IEnumerable<string> Required(JsonObject schema) =>
        (schema["required"] as JsonArray ?? []).Select(r => r!.GetValue<string>());

    private static bool HasType(JsonNode node, string type) => type switch
    {
        "object" => node is JsonObject,
        "array" => node is JsonArray,
        "string" => node is JsonValue v && v.GetValueKind() == JsonValueKind.String,
        "boolean" => node is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False,
        "number" => node is JsonValue v && v.GetValueKind() == JsonValueKind.Number,
        "integer" => node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && decimal.TryParse(v.ToJsonString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out _),
        _ => true,
    };

    private static string Kind(JsonNode node) => node switch
    {
        JsonObject => "object",
        JsonArray => "array",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => "string",
            JsonValueKind.Number => "number",
            JsonValueKind.True or JsonValueKind.False => "boolean",
            _ => "null",
        },
        _ => "null",
    };
}
