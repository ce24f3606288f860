using System.Text.Json;
using System.Text.Json.Serialization;

namespace TorchFerry.Format.Inspection;

/// <summary>Source-generated JSON metadata of <see cref="ArtifactDescription"/>; the settings are <see cref="InspectJson.Options"/>.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ArtifactDescription))]
internal sealed partial class InspectJsonContext : JsonSerializerContext;
