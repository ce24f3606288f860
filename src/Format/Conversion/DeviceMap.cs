using System.Text.RegularExpressions;

namespace TorchFerry.Format.Conversion;

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

    /// <summary>
    /// Builds a map. Which devices are allowed is the caller's policy (TorchFerry's is
    /// <c>TorchDevice</c>); the engine only refuses strings that are not torch location syntax,
    /// since it writes them into the pickle.
    /// </summary>
    /// <param name="device">Where every storage not in <paramref name="mapping"/> goes, if anywhere.</param>
    /// <param name="mapping">Explicit <c>from → to</c> locations.</param>
    /// <exception cref="ArgumentException">A name is not location syntax, or nothing is mapped.</exception>
    public static DeviceMap Create(string? device, IReadOnlyDictionary<string, string>? mapping = null)
    {
        if (device is not null && !IsLocation(device))
        {
            throw new ArgumentException($"device '{InputText.Printable(device)}': not a torch location", nameof(device));
        }

        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (from, to) in mapping ?? new Dictionary<string, string>())
        {
            if (!IsLocation(from) || !IsLocation(to))
            {
                throw new ArgumentException($"mapping '{InputText.Printable(from)}={InputText.Printable(to)}': not torch locations", nameof(mapping));
            }

            pairs[from] = to;
        }

        if (device is null && pairs.Count == 0)
        {
            throw new ArgumentException("say where storages go: a device and/or a mapping", nameof(device));
        }

        return new DeviceMap(device, pairs);
    }

    /// <summary>Whether <paramref name="name"/> has the syntax of a torch storage location (<c>type</c> or <c>type:index</c>).</summary>
    public static bool IsLocation(string name) => name is not null && LocationPattern().IsMatch(name);

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

    [GeneratedRegex(@"^[a-z][a-z0-9_]{0,31}(:[0-9]{1,9})?$", RegexOptions.CultureInvariant)]
    private static partial Regex LocationPattern();
}
