using System.Text.Json;
using System.Text.Json.Serialization;

namespace TorchFerry.Format.Inspection;

/// <summary>The serializer settings of <c>inspect --json</c>: camelCase names, enum names in camelCase.</summary>
public static class InspectJson
{
    /// <summary>Options for reading and writing <see cref="ArtifactDescription"/>.</summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>Serializes a description.</summary>
    public static string Serialize(ArtifactDescription description) => JsonSerializer.Serialize(description, Options);
}
