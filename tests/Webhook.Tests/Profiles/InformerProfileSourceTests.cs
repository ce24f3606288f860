using k8s;
using k8s.Models;
using Serilog;
using TorchFerry.TestSupport;
using TorchFerry.Crds;
using TorchFerry.TestSupport.Kubernetes;
using TorchFerry.Webhook.Profiles;

namespace TorchFerry.Webhook.Tests.Profiles;

/// <summary>DeviceProfiles kept in memory from the (emulated) API server, not fetched per request.</summary>
public sealed class InformerProfileSourceTests : IAsyncLifetime
{
    private readonly KubeApiEmulator api = new();
    private k8s.Kubernetes client = null!;

    public Task InitializeAsync()
    {
        TorchFerryCrds.Install(api);
        client = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = api.Endpoint.ToString() });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        client.Dispose();
        await api.DisposeAsync();
    }

    [Fact]
    public async Task Profiles_FollowTheClusterWithoutARequestPerLookup()
    {
        await CreateAsync("train");
        using var stop = new CancellationTokenSource();
        var source = new InformerProfileSource(client, TimeProvider.System, new LoggerConfiguration().CreateLogger());
        Assert.False(source.Ready);
        var running = source.RunAsync(stop.Token);

        await Eventually(() => source.Ready && source.Profiles.Count == 1);
        await CreateAsync("evaluate");
        await Eventually(() => source.Profiles.Count == 2);
        var requests = api.Requests.Count;
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(2, source.Profiles.Count);
        }

        Assert.Equal(requests, api.Requests.Count);
        await stop.CancelAsync();
        await running;
    }

    private Task<object> CreateAsync(string name) => client.CustomObjects.CreateNamespacedCustomObjectAsync(
        new DeviceProfile
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "flytesnacks-development" },
            Spec = new DeviceProfileSpec { Selector = new V1LabelSelector(), Device = new DeviceRequest { Type = DeviceType.Gpu } },
        },
        DeviceProfile.Group,
        DeviceProfile.Version,
        "flytesnacks-development",
        "deviceprofiles");

    private static Task Eventually(Func<bool> condition) =>
        Poll.UntilAsync(condition, TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(20));
}
