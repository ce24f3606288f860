using k8s;
using Serilog;
using TorchFerry.Crds;
using TorchFerry.Runtime;

namespace TorchFerry.Webhook.Profiles;

/// <summary>DeviceProfiles kept current by an informer (list, then watch) on the cluster.</summary>
internal sealed class InformerProfileSource(IKubernetes client, TimeProvider time, ILogger log) : IDeviceProfileSource
{
    private readonly ResourceInformer<DeviceProfile> informer = new(
        new CustomResourceClient<DeviceProfile>(client, DeviceProfile.Group, DeviceProfile.Version, DeviceProfile.Plural, @namespace: null),
        new InformerOptions(),
        time,
        log);

    public IReadOnlyList<DeviceProfile> Profiles => informer.Items;

    public bool Ready => informer.Synced.IsCompletedSuccessfully;

    public Task RunAsync(CancellationToken cancellationToken) => informer.RunAsync(cancellationToken);
}
