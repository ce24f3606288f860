using k8s;
using Serilog;
using TorchFerry.TestSupport;
using TorchFerry.TestSupport.Kubernetes;

namespace TorchFerry.Runtime.Tests;

/// <summary>Two replicas electing a leader on a Lease in the API server emulator.</summary>
public sealed class LeaderGateTests : IAsyncLifetime
{
    private readonly KubeApiEmulator api = new();
    private Kubernetes client = null!;

    public Task InitializeAsync()
    {
        client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Endpoint.ToString() });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        client.Dispose();
        await api.DisposeAsync();
    }

    [Fact]
    public async Task OneReplicaLeads_AndWhenItStops_TheOtherTakesOverAndTheFirstsWorkIsCancelled()
    {
        var working = new List<string>();
        var firstCancelled = new TaskCompletionSource();
        using var stopFirst = new CancellationTokenSource();
        using var stopSecond = new CancellationTokenSource();

        var first = Gate("replica-a").RunAsync(async token => await WorkAsync("replica-a", token, firstCancelled), stopFirst.Token);
        await Eventually(() => Snapshot(working).Contains("replica-a"), () => string.Join("\n", api.Requests.TakeLast(10)));
        var second = Gate("replica-b").RunAsync(async token => await WorkAsync("replica-b", token, null), stopSecond.Token);
        await Task.Delay(1500);
        Assert.DoesNotContain("replica-b", Snapshot(working));

        await stopFirst.CancelAsync();
        await first;
        await firstCancelled.Task.WaitAsync(TimeSpan.FromSeconds(5));
        await Eventually(() => Snapshot(working).Contains("replica-b"));

        await stopSecond.CancelAsync();
        await second;

        async Task WorkAsync(string who, CancellationToken token, TaskCompletionSource? cancelled)
        {
            lock (working)
            {
                working.Add(who);
            }

            try
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            catch (OperationCanceledException)
            {
                cancelled?.TrySetResult();
            }
        }
    }

    private LeaderGate Gate(string identity) => new(
        client,
        new LeaderGateOptions("torchferry-system", "torchferry-operator", identity)
        {
            LeaseDuration = TimeSpan.FromSeconds(2),
            RenewDeadline = TimeSpan.FromSeconds(1.5),
            RetryPeriod = TimeSpan.FromMilliseconds(200),
        },
        new LoggerConfiguration().CreateLogger());

    private static List<string> Snapshot(List<string> list)
    {
        lock (list)
        {
            return [.. list];
        }
    }

    private static Task Eventually(Func<bool> condition, Func<string>? context = null) =>
        Poll.UntilAsync(condition, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(50), context);
}
