using System.Collections.Concurrent;
using k8s;
using k8s.Models;
using Serilog;
using TorchFerry.TestSupport;
using TorchFerry.Crds;
using TorchFerry.TestSupport.Kubernetes;

namespace TorchFerry.Runtime.Tests;

/// <summary>The informer against the API server emulator, through the real KubernetesClient over HTTP.</summary>
public sealed class ResourceInformerTests : IAsyncLifetime
{
    private const string Group = "torchferry.io";
    private const string Version = "v1alpha1";
    private const string Plural = "checkpointartifacts";
    private const string Namespace = "flyte";
    private readonly KubeApiEmulator api = new();
    private readonly CancellationTokenSource stop = new();
    private readonly ConcurrentQueue<(WatchEventType Type, string Name)> changes = new();
    private Kubernetes client = null!;

    public Task InitializeAsync()
    {
        TorchFerryCrds.Install(api);
        client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Endpoint.ToString() });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await stop.CancelAsync();
        client.Dispose();
        await api.DisposeAsync();
        stop.Dispose();
    }

    [Fact]
    public async Task Run_PagedList_FillsTheCacheBeforeSaidSynced()
    {
        for (var i = 0; i < 5; i++)
        {
            await CreateAsync($"a{i}");
        }

        var informer = Start(new InformerOptions { PageSize = 2 });
        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(5, informer.Items.Count);
        Assert.Contains(api.Requests, r => r.Contains("limit=2", StringComparison.Ordinal) && r.Contains("continue=", StringComparison.Ordinal));
        Assert.Equal(5, changes.Count(c => c.Type == WatchEventType.Added));
    }

    [Fact]
    public async Task Watch_DeliversAddsUpdatesAndDeletesInOrder()
    {
        var informer = Start(new InformerOptions());
        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(10));

        await CreateAsync("b");
        await client.CustomObjects.PatchNamespacedCustomObjectAsync(new k8s.Models.V1Patch("""{"spec":{"targetDevices":["cpu","cuda:1"]}}""", k8s.Models.V1Patch.PatchType.MergePatch), Group, Version, Namespace, Plural, "b");
        await client.CustomObjects.DeleteNamespacedCustomObjectAsync(Group, Version, Namespace, Plural, "b");

        await Eventually(() => changes.Count >= 3);
        Assert.Equal([(WatchEventType.Added, "b"), (WatchEventType.Modified, "b"), (WatchEventType.Deleted, "b")], changes.ToArray());
        Assert.Empty(informer.Items);
    }

    [Fact]
    public async Task Watch_DroppedRepeatedly_ResumesWithNothingMissed()
    {
        var watches = 0;
        api.Fault = r => r.Query["watch"] == "true" && Interlocked.Increment(ref watches) <= 4 ? new EmulatorFault { DropWatchAfter = 1 } : null;
        var informer = Start(new InformerOptions { InitialBackoff = TimeSpan.FromMilliseconds(10) });
        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(10));

        for (var i = 0; i < 6; i++)
        {
            await CreateAsync($"c{i}");
        }

        await Eventually(() => informer.Items.Count == 6);
        Assert.True(informer.Watches > 1, $"{informer.Watches} watches");
        Assert.Equal(6, changes.Count(c => c.Type == WatchEventType.Added));
        Assert.Equal(1, informer.Lists);
    }

    [Fact]
    public async Task Watch_FromAnExpiredVersion_RelistsAndReportsWhatVanished()
    {
        await CreateAsync("keep");
        await CreateAsync("gone");
        var blocked = true;
        api.Fault = r => r.Query["watch"] == "true" && Volatile.Read(ref blocked) ? new EmulatorFault { DropWatchAfter = 0 } : null;
        var informer = Start(new InformerOptions { InitialBackoff = TimeSpan.FromMilliseconds(50), MaxBackoff = TimeSpan.FromMilliseconds(100) });
        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(10));

        // While the informer cannot watch, one object goes, one comes, and history is compacted.
        await client.CustomObjects.DeleteNamespacedCustomObjectAsync(Group, Version, Namespace, Plural, "gone");
        await CreateAsync("new");
        api.Compact();
        Volatile.Write(ref blocked, false);

        await Eventually(() => informer.Lists >= 2 && informer.Items.Count == 2 && changes.Any(c => c.Name == "new"));
        Assert.Contains((WatchEventType.Deleted, "gone"), changes);
        Assert.Contains((WatchEventType.Added, "new"), changes);
        Assert.Equal(["keep", "new"], informer.Items.Select(i => i.Metadata.Name).Order());
    }

    [Fact]
    public async Task Release_KeepsAShell_UnchangedThroughARelist_BodyBackOnChange_DeletionStillReported()
    {
        await CreateAsync("handled");
        await CreateAsync("busy");
        var blocked = true;
        api.Fault = r => r.Query["watch"] == "true" && Volatile.Read(ref blocked) ? new EmulatorFault { DropWatchAfter = 0 } : null;
        var informer = Start(new InformerOptions { InitialBackoff = TimeSpan.FromMilliseconds(50), MaxBackoff = TimeSpan.FromMilliseconds(100) }, shell: true);
        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(10));

        informer.Release(informer.Get(Namespace, "handled")!);
        Assert.Null(informer.Get(Namespace, "handled"));
        Assert.Equal(1, informer.Held);
        Assert.Equal(["busy"], informer.Items.Select(i => i.Metadata.Name));

        // A relist (history compacted past the list's version) that finds it unchanged reports
        // nothing and keeps only the shell.
        await CreateAsync("other");
        api.Compact();
        Volatile.Write(ref blocked, false);
        await Eventually(() => informer.Lists >= 2 && informer.Get(Namespace, "other") is not null);
        Assert.Single(changes, c => c.Name == "handled");
        Assert.Null(informer.Get(Namespace, "handled"));

        // Its next change brings the body back and is reported.
        await client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("""{"spec":{"targetDevices":["cuda:1"]}}""", V1Patch.PatchType.MergePatch), Group, Version, Namespace, Plural, "handled");
        await Eventually(() => informer.Get(Namespace, "handled") is not null);
        Assert.Equal(["cuda:1"], informer.Get(Namespace, "handled")!.Spec.TargetDevices);
        Assert.Contains((WatchEventType.Modified, "handled"), changes);

        // Released again, then deleted: the deletion is still reported.
        informer.Release(informer.Get(Namespace, "handled")!);
        await client.CustomObjects.DeleteNamespacedCustomObjectAsync(Group, Version, Namespace, Plural, "handled");
        await Eventually(() => changes.Contains((WatchEventType.Deleted, "handled")));
        Assert.Equal(2, informer.Held);
    }

    [Fact]
    public async Task Release_OfAnOlderVersion_KeepsTheNewerBody()
    {
        await CreateAsync("changing");
        var informer = Start(new InformerOptions(), shell: true);
        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(10));
        var first = informer.Get(Namespace, "changing")!;

        await client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("""{"spec":{"targetDevices":["cuda:1"]}}""", V1Patch.PatchType.MergePatch), Group, Version, Namespace, Plural, "changing");
        await Eventually(() => informer.Get(Namespace, "changing")?.Metadata.ResourceVersion != first.Metadata.ResourceVersion);
        informer.Release(first);

        Assert.Equal(["cuda:1"], informer.Get(Namespace, "changing")!.Spec.TargetDevices);
    }

    [Fact]
    public async Task Watch_RequestAnsweredWith410_Relists()
    {
        // An API server whose watch cache no longer has the version answers the watch request itself
        // with 410 (not an ERROR event in the stream): the informer must list again, not retry the watch.
        await CreateAsync("before");
        var watches = 0;
        api.Fault = r => r.Query["watch"] == "true" && Interlocked.Increment(ref watches) == 1 ? new EmulatorFault { Status = 410 } : null;
        var informer = Start(new InformerOptions { InitialBackoff = TimeSpan.FromMilliseconds(10) });
        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(10));

        await Eventually(() => informer.Lists == 2);
        await CreateAsync("after");
        await Eventually(() => informer.Get(Namespace, "after") is not null);
        Assert.Equal(2, informer.Lists);
    }

    [Fact]
    public async Task Watch_ThatHangsSilently_IsRestartedByTheWatchdog()
    {
        var watches = 0;
        api.Fault = r => r.Query["watch"] == "true" && Interlocked.Increment(ref watches) == 1 ? new EmulatorFault { HangWatch = true } : null;
        var informer = Start(new InformerOptions { Watchdog = TimeSpan.FromMilliseconds(500) });
        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(10));

        await CreateAsync("late");

        await Eventually(() => informer.Get(Namespace, "late") is not null);
        Assert.True(informer.Watches >= 2);
    }

    [Fact]
    public async Task Watch_HundredCyclesOnABusyServer_ResumeFromBookmarks_WithoutA410OrRelist()
    {
        // A label-filtered pod watch on a busy cluster: other pods change all the time, the server keeps
        // a short window of history and ends each watch quickly. Resuming from the last Flyte pod's
        // version would fall out of the window (410, relist); resuming from bookmarks does not.
        api.HistoryLimit = 40;
        api.BookmarkInterval = TimeSpan.FromMilliseconds(20);
        api.Fault = r => r.Query["watch"] == "true" ? new EmulatorFault { EndWatchAfter = TimeSpan.FromMilliseconds(100) } : null;
        await CreatePodAsync("flyte-task", "flyte");
        await CreatePodAsync("noise", "other");
        var informer = new ResourceInformer<V1Pod>(new PodClient(client, "app=flyte", Namespace), new InformerOptions(), TimeProvider.System, new LoggerConfiguration().CreateLogger());
        _ = Task.Run(() => informer.RunAsync(stop.Token));
        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(10));

        // At most ten changes a watch: a bookmark's version stays inside the window however slowly a
        // loaded machine reconnects, while the Flyte pod's own version falls out of it within a few watches.
        var churn = 0;
        while (informer.Watches < 101)
        {
            var watches = informer.Watches;
            for (var i = 0; i < 10 && informer.Watches == watches; i++)
            {
                await client.CoreV1.PatchNamespacedPodAsync(new V1Patch($$$$"""{"metadata":{"annotations":{"churn":"{{{{++churn}}}}"}}}""", V1Patch.PatchType.MergePatch), "noise", Namespace);
            }

            await Eventually(() => informer.Watches > watches);
        }

        await CreatePodAsync("flyte-late", "flyte");
        await Eventually(() => informer.Get(Namespace, "flyte-late") is not null);
        Assert.True(churn > 2 * api.HistoryLimit, $"the server was not busy enough to expire a version ({churn} changes)");
        Assert.Equal(1, informer.Lists);
        Assert.DoesNotContain(api.Requests, r => r.Contains("watch=true", StringComparison.Ordinal) && !r.Contains("allowWatchBookmarks=true", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Watch_ThroughResetsATlsAnswerAStallAndARestart_MissesNothing_AndNeverRelists()
    {
        await using var network = new TransportFaults(api.Endpoint);
        using var through = new Kubernetes(new KubernetesClientConfiguration { Host = network.Endpoint.ToString() });
        var informer = new ResourceInformer<CheckpointArtifact>(
            new CustomResourceClient<CheckpointArtifact>(through, Group, Version, Plural, Namespace),
            new InformerOptions { InitialBackoff = TimeSpan.FromMilliseconds(20), MaxBackoff = TimeSpan.FromMilliseconds(200), Watchdog = TimeSpan.FromSeconds(2) },
            TimeProvider.System,
            new LoggerConfiguration().CreateLogger());
        _ = Task.Run(() => informer.RunAsync(stop.Token));
        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(10));

        async Task FaultAsync(Func<Task> fault, string name)
        {
            var watches = informer.Watches;
            await fault();
            await CreateAsync(name); // changed while the informer could not see
            await Eventually(() => informer.Get(Namespace, name) is not null && informer.Watches > watches);
        }

        await FaultAsync(() => { network.ResetAll(); return Task.CompletedTask; }, "after-reset");
        await FaultAsync(
            async () =>
            {
                network.AnswerWithTls = true;
                network.ResetAll();
                await Eventually(() => network.Connections > 3);
                network.AnswerWithTls = false;
            },
            "after-tls");
        await FaultAsync(
            async () =>
            {
                network.Stalled = true;
                await Task.Delay(TimeSpan.FromSeconds(2.5)); // past the watchdog
                network.Stalled = false;
            },
            "after-stall");
        await FaultAsync(() => network.RestartAsync(TimeSpan.FromMilliseconds(500)), "after-restart");

        Assert.Equal(["after-reset", "after-restart", "after-stall", "after-tls"], informer.Items.Select(i => i.Metadata.Name).Order());
        Assert.Equal(1, informer.Lists);
        Assert.True(network.Resets > 0);
    }

    [Fact]
    public async Task List_ServerErrors_AreRetried()
    {
        var lists = 0;
        api.Fault = r => r.Method == "GET" && r.Query["watch"] != "true" && Interlocked.Increment(ref lists) <= 2 ? new EmulatorFault { Status = 500 } : null;
        await CreateAsync("x");

        var informer = Start(new InformerOptions { InitialBackoff = TimeSpan.FromMilliseconds(10) });

        await informer.Synced.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Single(informer.Items);
        Assert.True(lists >= 3);
    }

    private ResourceInformer<CheckpointArtifact> Start(InformerOptions options, bool shell = false)
    {
        var informer = new ResourceInformer<CheckpointArtifact>(
            new CustomResourceClient<CheckpointArtifact>(client, Group, Version, Plural, Namespace), options, TimeProvider.System, new LoggerConfiguration().CreateLogger())
        {
            Shell = shell ? a => new CheckpointArtifact { Metadata = new V1ObjectMeta { Name = a.Metadata.Name, NamespaceProperty = a.Metadata.NamespaceProperty, ResourceVersion = a.Metadata.ResourceVersion } } : null,
            OnChange = (type, item) =>
            {
                changes.Enqueue((type, item.Metadata.Name));
                return ValueTask.CompletedTask;
            },
        };
        _ = Task.Run(() => informer.RunAsync(stop.Token));
        return informer;
    }

    private Task<V1Pod> CreatePodAsync(string name, string app) => client.CoreV1.CreateNamespacedPodAsync(
        new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = name, Labels = new Dictionary<string, string> { ["app"] = app } },
            Spec = new V1PodSpec { Containers = [new V1Container { Name = "main", Image = "busybox" }] },
        },
        Namespace);

    private Task CreateAsync(string name) => client.CustomObjects.CreateNamespacedCustomObjectAsync(
        new CheckpointArtifact
        {
            Metadata = new k8s.Models.V1ObjectMeta { Name = name, NamespaceProperty = Namespace },
            Spec = new ArtifactSpec { Source = new ArtifactSource { Uri = $"s3://bucket/{name}.pt", Format = FlyteBlobFormat.PyTorchCheckpoint }, TargetDevices = ["cpu"] },
        },
        Group,
        Version,
        Namespace,
        Plural);

    private static Task Eventually(Func<bool> condition) =>
        Poll.UntilAsync(condition, TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(20));
}
