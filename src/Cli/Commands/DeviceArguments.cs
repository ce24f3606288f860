using TorchFerry.Contract;
using TorchFerry.Format.Conversion;

namespace TorchFerry.Cli.Commands;

/// <summary><c>--device</c> and <c>--map FROM=TO</c>, checked against the one device rule before the engine sees them.</summary>
internal static class DeviceArguments
{
    /// <summary>The map for <c>convert</c>.</summary>
    /// <exception cref="ArgumentException">A value is not a device, a location is mapped twice, or nothing is mapped (exit 2).</exception>
    public static DeviceMap Parse(string? device, IReadOnlyList<string>? mappings)
    {
        var target = device is null ? (TorchDevice?)null : TorchDevice.Parse(device, "--device");
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in mappings ?? [])
        {
            var parts = item.Split('=', 2);
            if (parts.Length != 2 || !TorchDevice.TryParse(parts[0], out var from) || !TorchDevice.TryParse(parts[1], out var to))
            {
                throw new ArgumentException($"--map '{item}': expected FROM=TO with devices ({TorchDevice.Expected}), e.g. cuda:1=cuda:0");
            }

            if (!pairs.TryAdd(from.Name, to.Name))
            {
                throw new ArgumentException($"--map '{item}': location '{from}' is mapped twice");
            }
        }

        if (target is null && pairs.Count == 0)
        {
            throw new ArgumentException("say where storages go: --device DEVICE and/or --map FROM=TO");
        }

        return DeviceMap.Create(target?.Name, pairs);
    }
}
