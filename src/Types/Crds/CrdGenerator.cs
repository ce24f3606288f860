using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using k8s.Models;

namespace TorchFerry.Crds;

/// <summary>
/// Builds CustomResourceDefinitions from the C# resource types: OpenAPI v3 schemas from their
/// properties and schema attributes, names, printer columns and CEL rules from <see cref="CrdCatalog"/>.
/// The YAML in config/crd is this output; a test fails when they differ.
/// Reflection over the resource types: it runs in the tests and in <c>dotnet run</c>, never in the natively
/// compiled CLI, whose <c>crds</c> command prints the committed YAML.
/// </summary>
[RequiresUnreferencedCode("Reads the CRD types' properties and attributes by reflection.")]
[RequiresDynamicCode("Builds JSON values of attribute arguments whose types are known only at run time.")]
public static class CrdGenerator
{
    /// <summary>The CRD manifest for <paramref name="crd"/>.</summary>
    public static JsonObject Generate(CrdDescription crd)
    {
        ArgumentNullException.ThrowIfNull(crd);
        var resource = crd.Resource;
        var specType = resource.GetProperty("Spec")!.PropertyType;
        var statusType = Nullable.GetUnderlyingType(resource.GetProperty("Status")!.PropertyType) ?? resource.GetProperty("Status")!.PropertyType;
        var spec = Schema(specType, null);
        AddRules(spec, crd.SpecRules);
        var root = new JsonObject
        {
            ["description"] = crd.Description,
            ["type"] = "object",
            ["required"] = new JsonArray("spec"),
            ["properties"] = new JsonObject
            {
                ["apiVersion"] = new JsonObject { ["type"] = "string" },
                ["kind"] = new JsonObject { ["type"] = "string" },
                ["metadata"] = new JsonObject { ["type"] = "object" },
                ["spec"] = spec,
                ["status"] = Schema(statusType, null),
            },
        };

        return new JsonObject
        {
            ["apiVersion"] = "apiextensions.k8s.io/v1",
            ["kind"] = "CustomResourceDefinition",
            ["metadata"] = new JsonObject
            {
                ["name"] = crd.Name,
                ["labels"] = new JsonObject { ["app.kubernetes.io/name"] = "torchferry", ["app.kubernetes.io/part-of"] = "torchferry" },
            },
            ["spec"] = new JsonObject
            {
                ["group"] = TensorArtifact.Group,
                ["names"] = new JsonObject
                {
                    ["kind"] = crd.Kind,
                    ["listKind"] = crd.Kind + "List",
                    ["plural"] = crd.Plural,
                    ["singular"] = crd.Singular,
                    ["shortNames"] = new JsonArray(crd.ShortNames.Select(n => (JsonNode?)n).ToArray()),
                    ["categories"] = new JsonArray("torchferry"),
                },
                ["scope"] = "Namespaced",
                ["versions"] = new JsonArray(new JsonObject
                {
                    ["name"] = TensorArtifact.Version,
                    ["served"] = true,
                    ["storage"] = true,
                    ["subresources"] = new JsonObject { ["status"] = new JsonObject() },
                    ["additionalPrinterColumns"] = new JsonArray(crd.Columns.Select(Column).ToArray()),
                    ["schema"] = new JsonObject { ["openAPIV3Schema"] = root },
                }),
            },
        };
    }

    private static JsonNode Column(PrinterColumn column)
    {
        var node = new JsonObject { ["name"] = column.Name, ["type"] = column.Type, ["jsonPath"] = column.JsonPath };
        if (column.Priority != 0)
        {
            node["priority"] = column.Priority;
        }

        return node;
    }

    private static JsonObject Schema(Type type, PropertyInfo? property)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        var schema = new JsonObject();
        if (Attribute<DescriptionAttribute>(property) is { } description)
        {
            schema["description"] = description.Text;
        }
        else if (property is null && type.GetCustomAttribute<DescriptionAttribute>() is { } typeDescription)
        {
            schema["description"] = typeDescription.Text;
        }

        if (Attribute<PreserveUnknownFieldsAttribute>(property) is not null)
        {
            schema["type"] = "object";
            schema["x-kubernetes-preserve-unknown-fields"] = true;
            return schema;
        }

        if (type == typeof(string))
        {
            schema["type"] = "string";
            if (Attribute<PatternAttribute>(property) is { } pattern)
            {
                schema["pattern"] = pattern.Regex;
            }
        }
        else if (type == typeof(bool))
        {
            schema["type"] = "boolean";
        }
        else if (type == typeof(int) || type == typeof(long))
        {
            schema["type"] = "integer";
            schema["format"] = type == typeof(int) ? "int32" : "int64";
            if (Attribute<RangeAttribute>(property) is { } range)
            {
                schema["minimum"] = range.Minimum;
                if (range.Maximum != long.MaxValue)
                {
                    schema["maximum"] = range.Maximum;
                }
            }
        }
        else if (type == typeof(double))
        {
            schema["type"] = "number";
        }
        else if (type == typeof(DateTimeOffset) || type == typeof(DateTime))
        {
            schema["type"] = "string";
            schema["format"] = "date-time";
        }
        else if (type.IsEnum)
        {
            schema["type"] = "string";
            schema["enum"] = new JsonArray(EnumNames(type).Select(n => (JsonNode?)n).ToArray());
        }
        else if (type != typeof(string) && ElementType(type) is { } element)
        {
            schema["type"] = "array";
            var items = Schema(element, null);
            if (Attribute<ItemPatternAttribute>(property) is { } itemPattern)
            {
                items["pattern"] = itemPattern.Regex;
            }

            schema["items"] = items;
            if (Attribute<RangeAttribute>(property) is { } range)
            {
                schema["maxItems"] = range.Maximum;
            }

            if (Attribute<ListMapKeyAttribute>(property) is { } key)
            {
                schema["x-kubernetes-list-type"] = "map";
                schema["x-kubernetes-list-map-keys"] = new JsonArray(key.Key);
            }
        }
        else if (DictionaryValueType(type) is { } value)
        {
            schema["type"] = "object";
            schema["additionalProperties"] = Schema(value, null);
        }
        else if (type == typeof(IntOrString) || type == typeof(ResourceQuantity))
        {
            schema["x-kubernetes-int-or-string"] = true;
            schema["anyOf"] = new JsonArray(new JsonObject { ["type"] = "integer" }, new JsonObject { ["type"] = "string" });
        }
        else
        {
            ObjectSchema(type, schema);
        }

        if (Attribute<DefaultAttribute>(property) is { } @default)
        {
            schema["default"] = JsonValue.Create(@default.Value);
        }

        AddRules(schema, [.. (property is null ? type.GetCustomAttributes<CelRuleAttribute>() : []), .. property?.GetCustomAttributes<CelRuleAttribute>() ?? []]);
        if (property is not null && type.IsClass && type != typeof(string) && ElementType(type) is null)
        {
            AddRules(schema, [.. type.GetCustomAttributes<CelRuleAttribute>()]);
        }

        return schema;
    }

    private static void ObjectSchema(Type type, JsonObject schema)
    {
        schema["type"] = "object";
        var properties = new JsonObject();
        var required = new JsonArray();
        foreach (var member in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.MetadataToken))
        {
            if (member.GetCustomAttribute<JsonIgnoreAttribute>() is not null || member.GetIndexParameters().Length > 0)
            {
                continue;
            }

            var name = member.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.CamelCase.ConvertName(member.Name);
            properties[name] = Schema(member.PropertyType, member);
            if (member.GetCustomAttribute<RequiredAttribute>() is not null || member.GetCustomAttribute<RequiredMemberAttribute>() is not null)
            {
                required.Add(name);
            }
        }

        if (required.Count > 0)
        {
            schema["required"] = required;
        }

        schema["properties"] = properties;
    }

    private static void AddRules(JsonObject schema, IReadOnlyList<CelRuleAttribute> rules)
    {
        if (rules.Count == 0)
        {
            return;
        }

        var list = schema["x-kubernetes-validations"] as JsonArray ?? [];
        foreach (var rule in rules)
        {
            list.Add(new JsonObject { ["rule"] = rule.Rule, ["message"] = rule.Message });
        }

        schema["x-kubernetes-validations"] = list;
    }

    private static T? Attribute<T>(PropertyInfo? property)
        where T : Attribute => property?.GetCustomAttribute<T>();

    private static IEnumerable<string> EnumNames(Type type) =>
        type.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => f.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name ?? f.Name);

    private static Type? ElementType(Type type)
    {
        if (type.IsArray)
        {
            return type.GetElementType();
        }

        if (DictionaryValueType(type) is not null)
        {
            return null;
        }

        return typeof(IEnumerable).IsAssignableFrom(type) && type.IsGenericType ? type.GetGenericArguments()[0] : null;
    }

    private static Type? DictionaryValueType(Type type) =>
        type.IsGenericType && type.GetGenericArguments().Length == 2
            && (type.GetGenericTypeDefinition() == typeof(IDictionary<,>) || type.GetGenericTypeDefinition() == typeof(Dictionary<,>) || type.GetGenericTypeDefinition() == typeof(IReadOnlyDictionary<,>))
            ? type.GetGenericArguments()[1]
            : null;
}
