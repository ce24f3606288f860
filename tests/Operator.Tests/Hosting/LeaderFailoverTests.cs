using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Serilog;
using TorchFerry.Crds;
using TorchFerry.Operator.Hosting;
using TorchFerry.Storage;
using TorchFerry.Storage.S3;
using TorchFerry.TestSupport;
using TorchFerry.TestSupport.Kubernetes;

namespace TorchFerry.Operator.Tests.Hosting;

/// <summary>
/// Two operator replicas. The leader's reads from the store are slowed down (through the test proxy)
/// so it is stopped (SIGTERM's path) in the middle of a conversion; it releases the Lease, the other
/// replica takes it over at its next retry and converts. There must be exactly one complete variant
/// and nothing partial. Order is decided by signals (who holds the Lease, reads seen), not sleeps.
/// </summary>
[Collection(S3Collection.Name)]
public sealed class LeaderFailoverTests(S3Fixture s3, TorchFixtures torch) : IAsyncLifetime
{
    private const string Group = "torchferry.io";
    private const string Version = "v1alpha1";
    private const string Namespace = "flytesnacks-development";
    private readonly KubeApiEmulator api = new();
    private readonly TemporaryDirectory folder = new();
    private k8s.Kubernetes client = null!;

    public Task InitializeAsync()
    {
        s3.ResetProxy();
        TorchFerryCrds.Install(api);
        client = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = api.Endpoint.ToString() });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        s3.ResetProxy();
        client.Dispose();
        await api.DisposeAsync();
        folder.Dispose();
    }

    [Fact]
    public async Task LeaderStoppedMidConversion_TheOtherReplicaConverts_OneCompleteVariantNoPartialObject()
    {
        var prefix = S3Fixture.UniqueKey(string.Empty);
        var sourceKey = prefix + "ck.pt";
        await s3.PutFileAsync(sourceKey, torch.GpuFile("large"));
        var rangeReads = 0;
        s3.Proxy.BeforeForward = async request =>
        {
            if (request.Method == "GET" && request.Headers.ContainsKey("Range"))
            {
                Interlocked.Increment(ref rangeReads);
                await Task.Delay(300); // replica A reads slowly: a conversion takes seconds
            }
        };

        using var stopA = new CancellationTokenSource();
        using var stopB = new CancellationTokenSource();
        using var storesA = Stores(s3.Proxy.Endpoint);
        using var storesB = Stores(s3.Server.Endpoint);
        var a = Host(storesA, "replica-a").RunAsync(stopA.Token);
        await Poll.UntilAsync(() => Holder() == "replica-a", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(20));
        var b = Host(storesB, "replica-b").RunAsync(stopB.Token);

        await client.CustomObjects.CreateNamespacedCustomObjectAsync(
            new CheckpointArtifact
            {
                Metadata = new V1ObjectMeta { Name = "big", NamespaceProperty = Namespace },
                Spec = new ArtifactSpec { Source = new ArtifactSource { Uri = $"s3://{S3Server.Bucket}/{sourceKey}", Format = FlyteBlobFormat.PyTorchCheckpoint }, TargetDevices = ["cpu"] },
            },
            Group,
            Version,
            Namespace,
            "checkpointartifacts");

        // A is in the middle of reading (its metadata read, then storage ranges, each slowed down).
        await Poll.UntilAsync(() => Volatile.Read(ref rangeReads) >= 3, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(20));
        Assert.Equal("replica-a", Holder());
        await stopA.CancelAsync(); // SIGTERM
        await a;

        // A released the Lease on its way out: B takes over at its next retry, not after the 30 s lease.
        await Poll.UntilAsync(() => Holder() == "replica-b", TimeSpan.FromSeconds(3), TimeSpan.FromMilliseconds(20));
        // A was stopped before it could complete its upload: the variant is B's.
        var seen = s3.Proxy.Requests;
        Assert.DoesNotContain(seen, r => r.StartsWith("POST ", StringComparison.Ordinal) && r.Contains("uploadId=", StringComparison.Ordinal));
        Assert.Contains(seen, r => r.StartsWith("GET ", StringComparison.Ordinal));

        var ready = await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, "big") is { } o && o["status"]?["phase"]?.GetValue<string>() == "Ready" ? o : null);
        await stopB.CancelAsync();
        await b;

        var variants = ready["status"]!["variants"]!.AsArray();
        var variant = Assert.Single(variants)!;
        var keys = new List<string>();
        await foreach (var (uri, _) in storesB.For(StorageUri.S3(S3Server.Bucket, prefix)).ListAsync(StorageUri.S3(S3Server.Bucket, prefix), default))
        {
            keys.Add(uri.Key[prefix.Length..]);
        }

        Assert.Equal(["ck.pt", "ck.torchferry-cpu.pt"], keys.Order());
        var local = folder.File("variant.pt");
        await s3.GetFileAsync(StorageUri.Parse(variant["uri"]!.GetValue<string>()).Key, local);
        Assert.Empty(torch.Torch.Compare("large", local).Problems);
    }

    private static ObjectStoreRouter Stores(Uri endpoint) => new(
        new S3StoreOptions { Endpoint = endpoint, Credentials = (S3Server.AccessKey, S3Server.SecretKey), PartSize = S3StoreOptions.MinimumPartSize, MaxErrorRetry = 1 },
        new LoggerConfiguration().CreateLogger());

    private OperatorHost Host(ObjectStoreRouter stores, string identity) => new(client, stores, new OperatorOptions
    {
        AllowedPrefixes = new Dictionary<string, IReadOnlyList<string>> { [Namespace] = [$"s3://{S3Server.Bucket}/"] },
        HttpAddress = "http://127.0.0.1:0",
        Identity = identity,
        LeaseDuration = TimeSpan.FromSeconds(30),
        RenewDeadline = TimeSpan.FromSeconds(20),
        RetryPeriod = TimeSpan.FromMilliseconds(200),
    }, TimeProvider.System, new LoggerConfiguration().CreateLogger());

    private string? Holder() => api.Get("coordination.k8s.io", "v1", "leases", "torchferry-system", "torchferry-operator")?["spec"]?["holderIdentity"]?.GetValue<string>();

    private static Task<JsonObject> EventuallyAsync(Func<JsonObject?> probe) =>
        Poll.UntilAsync(probe, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(100));
}
