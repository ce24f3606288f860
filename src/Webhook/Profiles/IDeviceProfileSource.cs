using TorchFerry.Crds;

namespace TorchFerry.Webhook.Profiles;

/// <summary>The DeviceProfiles the webhook matches pods against, from memory (never an API call per request).</summary>
internal interface IDeviceProfileSource
{
    /// <summary>The current profiles.</summary>
    IReadOnlyList<DeviceProfile> Profiles { get; }

    /// <summary>Whether the profiles have been loaded once (readiness).</summary>
    bool Ready { get; }
}
