using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport.Kubernetes;

/// <summary>RFC 7386 merge patches and RFC 6902 JSON patches, as the API server applies them.</summary>
public static class JsonPatch
{
    public static JsonNode? Merge(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        var result = target as JsonObject is { } existing ? (JsonObject)existing.DeepClone() : new JsonObject();
        foreach (var (key, value) in patchObject)
        {
            if (value is null)
            {
                result.Remove(key);
            }
            else
            {
                result[key] = Merge(result[key], value);
            }
        }

        return result;
    }

    /// <summary>Applies an RFC 6902 patch (add, remove, replace, test); throws <see cref="InvalidOperationException"/> when an operation cannot apply.</summary>
    public static JsonNode Apply(JsonNode target, JsonArray operations)
    {
        var document = target.DeepClone();
        foreach (var operation in operations.Select(o => o!.AsObject()))
        {
            var op = operation["op"]!.GetValue<string>();
            var path = Pointer(operation["path"]!.GetValue<string>());
            var (parent, last) = Parent(document, path);
            switch (op)
            {
                case "add":
                    if (parent is JsonArray addList)
                    {
                        var value = operation["value"]!.DeepClone();
                        if (last == "-")
                        {
                            addList.Add(value);
                        }
                        else
                        {
                            addList.Insert(int.Parse(last, System.Globalization.CultureInfo.InvariantCulture), value);
                        }
                    }
                    else
                    {
                        parent.AsObject()[last] = operation["value"]?.DeepClone();
                    }

                    break;
                case "remove":
                    if (parent is JsonArray removeList)
                    {
                        removeList.RemoveAt(int.Parse(last, System.Globalization.CultureInfo.InvariantCulture));
                    }
                    else if (!parent.AsObject().Remove(last))
                    {
                        throw new InvalidOperationException($"remove: no member at {operation["path"]}");
                    }

                    break;
                case "replace":
                    if (parent is JsonArray replaceList)
                    {
                        replaceList[int.Parse(last, System.Globalization.CultureInfo.InvariantCulture)] = operation["value"]?.DeepClone();
                    }
                    else
                    {
                        if (!parent.AsObject().ContainsKey(last))
                        {
                            throw new InvalidOperationException($"replace: no member at {operation["path"]}");
                        }

                        parent.AsObject()[last] = operation["value"]?.DeepClone();
                    }

                    break;
                case "test":
                    var current = parent is JsonArray testList ? testList[int.Parse(last, System.Globalization.CultureInfo.InvariantCulture)] : parent.AsObject()[last];
                    if (!JsonNode.DeepEquals(current, operation["value"]))
                    {
                        throw new InvalidOperationException($"test failed at {operation["path"]}");
                    }

                    break;
                default:
                    throw new InvalidOperationException($"unsupported JSON patch operation '{op}'");
            }
        }

        return document;
    }

    private static string[] Pointer(string path) =>
        path.Split('/').Skip(1).Select(p => p.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToArray();

    private static (JsonNode Parent, string Last) Parent(JsonNode document, string[] path)
    {
        var node = document;
        foreach (var segment in path[..^1])
        {
            node = (node is JsonArray list ? list[int.Parse(segment, System.Globalization.CultureInfo.InvariantCulture)] : node.AsObject()[segment])
                ?? throw new InvalidOperationException($"no member '{segment}'");
        }

        return (node, path[^1]);
    }
}
