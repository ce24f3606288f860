using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace TorchFerry.Format.Inspection;

/// <summary>The serializer settings of <c>inspect --json</c>: camelCase names, enum names in camelCase.</summary>
public static class InspectJson
{
    /// <summary>
    /// Options for reading and writing <see cref="ArtifactDescription"/>. Their metadata is source-generated,
    /// so the natively compiled CLI serializes without reflection.
    /// </summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter<ArtifactKind>(JsonNamingPolicy.CamelCase) },
        TypeInfoResolver = InspectJsonContext.Default,
    };

    private static JsonTypeInfo<ArtifactDescription> Description => (JsonTypeInfo<ArtifactDescription>)Options.GetTypeInfo(typeof(ArtifactDescription));

    /// <summary>Serializes a description.</summary>
    public static string Serialize(ArtifactDescription description) => JsonSerializer.Serialize(description, Description);
}
