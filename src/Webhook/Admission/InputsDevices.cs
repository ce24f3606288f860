using System.Text.Json;
using TorchFerry.Contract;

namespace TorchFerry.Webhook.Admission;

/// <summary><c>--inputs-device-namespaces</c>: a JSON map of namespace to device, checked when the webhook starts.</summary>
internal static class InputsDevices
{
    /// <exception cref="ArgumentException">Not a JSON object of strings, or a value that is not a device: the webhook does not start.</exception>
    public static IReadOnlyDictionary<string, TorchDevice> Parse(string? json)
    {
        if (json is null)
        {
            return new Dictionary<string, TorchDevice>(StringComparer.Ordinal);
        }

        Dictionary<string, string>? raw;
        try
        {
            raw = JsonSerializer.Deserialize<Dictionary<string, string>>(json);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"--inputs-device-namespaces: expected a JSON object of namespace to device, e.g. {{\"flytesnacks-development\": \"cpu\"}} ({e.Message})", e);
        }

        return (raw ?? []).ToDictionary(
            kv => kv.Key,
            kv => TorchDevice.Parse(kv.Value, $"--inputs-device-namespaces {kv.Key}"),
            StringComparer.Ordinal);
    }
}
