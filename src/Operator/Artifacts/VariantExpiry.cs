using System.Globalization;
using TorchFerry.Contract;
using TorchFerry.Crds;

namespace TorchFerry.Operator.Artifacts;

/// <summary>
/// <c>spec.ttlAfterUnused</c>: a device's variant is wanted while a consumer asked for it (the
/// <see cref="Annotations.LastUsed"/> annotation), it was converted, or the artifact was created within
/// the TTL; past that it is deleted and not made again until the next use. Stateless: everything it
/// reads is on the object, so a restarted operator decides the same.
/// </summary>
internal sealed record VariantExpiry(TimeSpan? Ttl, IReadOnlyDictionary<string, DateTimeOffset> LastUsed, DateTimeOffset? Created)
{
    /// <summary>No TTL: every variant stays.</summary>
    public static VariantExpiry None { get; } = new(null, new Dictionary<string, DateTimeOffset>(), null);

    /// <summary>A last-use annotation's value: RFC 3339 in UTC, to the second.</summary>
    public static string Stamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    /// <summary>The TTL and uses recorded on an artifact.</summary>
    public static VariantExpiry Of(ArtifactSpec spec, IDictionary<string, string>? annotations, DateTimeOffset? created)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var uses = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        foreach (var (key, value) in annotations ?? new Dictionary<string, string>())
        {
            if (Annotations.DeviceOfLastUsed(key) is { } device
                && DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
            {
                uses[device] = at;
            }
        }

        return new VariantExpiry(KubeDuration.TryParse(spec.TtlAfterUnused, out var ttl) ? ttl : null, uses, created);
    }

    /// <summary>When a consumer last asked for <paramref name="device"/>, if one did.</summary>
    public DateTimeOffset? LastUse(string device) => LastUsed.TryGetValue(device, out var at) ? at : null;

    /// <summary>When the variant for <paramref name="device"/> stops being wanted, or null without a TTL.</summary>
    public DateTimeOffset? ExpiresAt(string device, ArtifactVariant? variant)
    {
        if (Ttl is not { } ttl)
        {
            return null;
        }

        // Nothing known at all (no use, conversion or creation time): already past.
        DateTimeOffset?[] marks = [LastUse(device), variant?.ConvertedAt, Created];
        return marks.Max() is { } since ? since + ttl : DateTimeOffset.MinValue;
    }
}
