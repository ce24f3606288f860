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
        var reads = LeaseReads();
        var second = Gate("replica-b").RunAsync(async token => await WorkAsync("replica-b", token, null), stopSecond.Token);

        // Several of B's attempts have met A's valid lease (each one reads it): B still does not work.
        await Eventually(() => LeaseReads() >= reads + 10);
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

    [Fact]
    public async Task Leader_ThroughResetsAndThreeRestartsShorterThanTheRenewDeadline_KeepsItsOneTerm()
    {
        await using var network = new TransportFaults(api.Endpoint);
        using var through = new Kubernetes(new KubernetesClientConfiguration { Host = network.Endpoint.ToString() });
        var registry = new TorchFerry.Runtime.Hosting.MetricsRegistry();
        var terms = 0;
        var cancelled = 0;
        using var stop = new CancellationTokenSource();
        var gate = Gate("replica-a", through, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(3), new LeaderElectionMetrics(registry));
        var running = gate.RunAsync(
            async token =>
            {
                Interlocked.Increment(ref terms);
                try
                {
                    await Task.Delay(Timeout.Infinite, token);
                }
                catch (OperationCanceledException)
                {
                    Interlocked.Increment(ref cancelled);
                }
            },
            stop.Token);
        await Eventually(() => Volatile.Read(ref terms) == 1);

        // Renewals reset on the wire, then an API server that restarts three times (1 s down each).
        var resetRenewals = 0;
        network.ResetRequests = line => line.StartsWith("PUT /apis/coordination.k8s.io/", StringComparison.Ordinal) && Interlocked.Increment(ref resetRenewals) <= 3;
        await Eventually(() => Volatile.Read(ref resetRenewals) > 3);
        for (var i = 0; i < 3; i++)
        {
            // Restarts are spaced as an upgrade spaces them: each is followed by a renewal through the restarted server.
            var renewed = RenewTime();
            await network.RestartAsync(TimeSpan.FromSeconds(1));
            await Eventually(() => RenewTime() != renewed);
        }

        Assert.Equal(1, Volatile.Read(ref terms));
        Assert.Equal(0, Volatile.Read(ref cancelled));
        Assert.Equal("replica-a", api.Get("coordination.k8s.io", "v1", "leases", "torchferry-system", "torchferry-operator")!["spec"]!["holderIdentity"]!.GetValue<string>());
        Assert.True(network.Resets >= 3, $"only {network.Resets} connections were reset");
        Assert.Contains("leader_election_errors_total{name=\"torchferry-operator\"}", await registry.RenderAsync(), StringComparison.Ordinal);

        await stop.CancelAsync();
        await running;
        Assert.Equal(1, Volatile.Read(ref cancelled));
    }

    [Fact]
    public async Task Leader_CutOffLongerThanTheRenewDeadline_StopsItsWork_AndANewTermStartsOnlyAfterTheOldOneStopped()
    {
        await using var network = new TransportFaults(api.Endpoint);
        using var through = new Kubernetes(new KubernetesClientConfiguration { Host = network.Endpoint.ToString() });
        var active = 0;
        var mostActive = 0;
        var terms = 0;
        using var stop = new CancellationTokenSource();
        var running = Gate("replica-a", through, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1.5)).RunAsync(
            async token =>
            {
                Interlocked.Increment(ref terms);
                var now = Interlocked.Increment(ref active);
                InterlockedMax(ref mostActive, now);
                try
                {
                    await Task.Delay(Timeout.Infinite, token);
                }
                catch (OperationCanceledException)
                {
                    await Task.Delay(700, CancellationToken.None); // stopping takes a while: in-flight work winds down
                }
                finally
                {
                    Interlocked.Decrement(ref active);
                }
            },
            stop.Token);
        await Eventually(() => Volatile.Read(ref terms) == 1);

        network.Stalled = true; // every connection hangs: renewals time out
        await Eventually(() => Volatile.Read(ref active) == 0 && Volatile.Read(ref terms) == 1);
        network.Stalled = false;
        network.ResetAll();
        await Eventually(() => Volatile.Read(ref terms) == 2);

        Assert.Equal(1, Volatile.Read(ref mostActive));
        await stop.CancelAsync();
        await running;
    }

    [Fact]
    public async Task Stop_ReleasesTheLease_SoTheOtherReplicaTakesOverLongBeforeItWouldExpire()
    {
        var leader = new List<string>();
        using var stopFirst = new CancellationTokenSource();
        using var stopSecond = new CancellationTokenSource();
        Task Work(string who, CancellationToken token)
        {
            lock (leader)
            {
                leader.Add(who);
            }

            return Task.Delay(Timeout.Infinite, token);
        }

        // A 60 s lease: without a release, the second replica would wait a minute.
        var first = Gate("replica-a", client, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(10)).RunAsync(t => Work("replica-a", t), stopFirst.Token);
        await Eventually(() => Snapshot(leader).Contains("replica-a"));
        var second = Gate("replica-b", client, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(10)).RunAsync(t => Work("replica-b", t), stopSecond.Token);
        await Eventually(() => api.Requests.Count(r => r.Contains("/leases/torchferry-operator", StringComparison.Ordinal)) > 6);

        await stopFirst.CancelAsync();
        await first;
        Assert.Null(api.Get("coordination.k8s.io", "v1", "leases", "torchferry-system", "torchferry-operator")!["spec"]!["holderIdentity"]);
        await Poll.UntilAsync(() => Snapshot(leader).Contains("replica-b"), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(50));

        await stopSecond.CancelAsync();
        await second;
    }

    private string? RenewTime() => api.Get("coordination.k8s.io", "v1", "leases", "torchferry-system", "torchferry-operator")?["spec"]?["renewTime"]?.ToJsonString();

    private int LeaseReads() => api.Requests.Count(r => r.StartsWith("GET /apis/coordination.k8s.io/v1/namespaces/torchferry-system/leases/torchferry-operator", StringComparison.Ordinal));

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    private static LeaderGate Gate(string identity, Kubernetes through, TimeSpan leaseDuration, TimeSpan renewDeadline, LeaderElectionMetrics? metrics = null) => new(
        through,
        new LeaderGateOptions("torchferry-system", "torchferry-operator", identity)
        {
            LeaseDuration = leaseDuration,
            RenewDeadline = renewDeadline,
            RetryPeriod = TimeSpan.FromMilliseconds(200),
        },
        TimeProvider.System,
        new LoggerConfiguration().CreateLogger(),
        metrics);

    private LeaderGate Gate(string identity) => Gate(identity, client, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1.5));

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
