namespace TorchFerry.Contract;

/// <summary>Every pod annotation TorchFerry reads or writes; the webhook, the operator and the docs use these.</summary>
public static class Annotations
{
    /// <summary>Set by the webhook on pods it mutated (<c>injected:gpu,dshm,inputs</c>); a second pass changes nothing.</summary>
    public const string Status = "torchferry.io/status";

    /// <summary>Set by the webhook: settings the pod already had and that were kept.</summary>
    public const string Conflicts = "torchferry.io/conflicts";

    /// <summary>Set by users: <c>"false"</c> opts a pod out of the webhook.</summary>
    public const string Inject = "torchferry.io/inject";

    /// <summary>Set by users (or per namespace by the webhook): the device the pod's PyTorch inputs are delivered on.</summary>
    public const string InputsDevice = "torchferry.io/inputs-device";

    /// <summary>Set by the webhook for the operator: convert this pod's PyTorch inputs for this device.</summary>
    public const string TargetDevice = "torchferry.io/target-device";

    /// <summary>
    /// Set by the webhook with <see cref="TargetDevice"/>: the inputs LiteralMap the task was created
    /// with. The container's <c>--inputs</c> names the file prepare-inputs writes, which does not exist
    /// until the init container ran; the operator reads the blobs to convert from this one.
    /// </summary>
    public const string InputsSource = "torchferry.io/inputs-source";

    /// <summary>Set by users: the name of the container that runs the task, when the webhook cannot tell.</summary>
    public const string PrimaryContainer = "torchferry.io/primary-container";

    private const string LastUsedPrefix = "torchferry.io/last-used-";

    /// <summary>
    /// On an artifact: when a consumer last asked for its variant on a device (RFC 3339), written by the
    /// operator's pod watcher for each pod that consumes it there; with <c>spec.ttlAfterUnused</c> a
    /// variant unused that long is deleted. One key per device (':' written '.': cuda:0 → cuda.0).
    /// </summary>
    public static string LastUsed(string device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return LastUsedPrefix + device.Replace(':', '.');
    }

    /// <summary>The device whose last use <paramref name="annotation"/> records, or null.</summary>
    public static string? DeviceOfLastUsed(string annotation)
    {
        ArgumentNullException.ThrowIfNull(annotation);
        return annotation.StartsWith(LastUsedPrefix, StringComparison.Ordinal) ? annotation[LastUsedPrefix.Length..].Replace('.', ':') : null;
    }
}
