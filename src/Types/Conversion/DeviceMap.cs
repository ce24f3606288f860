using System.Text.RegularExpressions;

namespace TorchFerry.Conversion;

/// <summary>
/// Where each storage location goes, with <c>torch.load(map_location=...)</c>'s meaning: a single
/// target device for every storage, a per-location mapping, or both (the mapping wins, the
/// device takes the rest). Locations neither names stay as they are.
/// </summary>
public sealed partial class DeviceMap
{
    private readonly Dictionary<string, string> mapping;

    private DeviceMap(string? device, Dictionary<string, string> mapping)
    {
        Device = device;
        this.mapping = mapping;
    }

    /// <summary>The device every unmapped storage goes to, if any.</summary>
    public string? Device { get; }

    /// <summary>Explicit <c>from → to</c> pairs.</summary>
    public IReadOnlyDictionary<string, string> Mapping => mapping;

    /// <summary>Builds a map from <c>--device</c> and <c>--map from=to</c> values.</summary>
    /// <exception cref="ArgumentException">A device name or mapping is malformed, or nothing is mapped.</exception>
    public static DeviceMap Create(string? device, IEnumerable<string>? mappings = null)
    {
        if (device is not null && !IsDevice(device))
        {
            throw new ArgumentException($"--device '{device}': not a device (cpu, cuda, cuda:N, mps, xpu:N, hpu:N)", nameof(device));
        }

        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in mappings ?? [])
        {
            var parts = item.Split('=', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || !IsDevice(parts[0]) || !IsDevice(parts[1]))
            {
                throw new ArgumentException($"--map '{item}': expected FROM=TO with device names, e.g. cuda:1=cuda:0", nameof(mappings));
            }

            if (!pairs.TryAdd(parts[0], parts[1]))
            {
                throw new ArgumentException($"--map '{item}': location '{parts[0]}' is mapped twice", nameof(mappings));
            }
        }

        if (device is null && pairs.Count == 0)
        {
            throw new ArgumentException("say where storages go: --device DEVICE and/or --map FROM=TO", nameof(device));
        }

        return new DeviceMap(device, pairs);
    }

    /// <summary>Whether <paramref name="name"/> is a device name torch accepts as a location.</summary>
    public static bool IsDevice(string name) => DevicePattern().IsMatch(name);

    /// <summary>The location a storage recorded at <paramref name="location"/> goes to.</summary>
    public string Map(string location) =>
        mapping.TryGetValue(location, out var target) ? target : Device ?? location;

    /// <summary>A short description for messages, e.g. <c>cpu</c> or <c>cuda:1=cuda:0, else cpu</c>.</summary>
    public override string ToString()
    {
        var pairs = string.Join(", ", mapping.Select(kv => $"{kv.Key}={kv.Value}"));
        return (pairs.Length, Device) switch
        {
            (0, _) => Device!,
            (_, null) => pairs,
            _ => $"{pairs}, else {Device}",
        };
    }

    [GeneratedRegex(@"^(cpu|mps|meta|(cuda|xpu|hpu|privateuseone)(:\d{1,3})?)$", RegexOptions.CultureInvariant)]
    private static partial Regex DevicePattern();
}
