using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Serilog;
using TorchFerry.Contract;
using TorchFerry.Crds;
using TorchFerry.Operator.Hosting;
using TorchFerry.Storage;
using TorchFerry.TestSupport;
using TorchFerry.TestSupport.Kubernetes;

namespace TorchFerry.Operator.Tests.Hosting;

/// <summary>The whole operator against the API server emulator, with local files as the store and PyTorch checking the variants.</summary>
[Collection(TorchCollection.Name)]
public sealed class OperatorHostTests : IAsyncLifetime
{
    private const string Group = "torchferry.io";
    private const string Version = "v1alpha1";
    private const string Namespace = "flytesnacks-development";

    // What the chart's operator.defaultTtlAfterUnused gives the artifacts registered from pods.
    private const string DefaultTtl = "1h";
    private readonly TorchFixtures torch;
    private readonly KubeApiEmulator api = new();
    private readonly TemporaryDirectory folder = new();
    private readonly CancellationTokenSource stop = new();
    private readonly LogLines logs = new();
    private readonly ObjectStoreRouter stores = new(log: new LoggerConfiguration().CreateLogger(), durableLocalWrites: false);
    private k8s.Kubernetes client = null!;
    private OperatorHost host = null!;
    private Task running = Task.CompletedTask;

    public OperatorHostTests(TorchFixtures torch) => this.torch = torch;

    public Task InitializeAsync()
    {
        TorchFerryCrds.Install(api);
        client = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = api.Endpoint.ToString() });
        host = new OperatorHost(client, stores, new OperatorOptions
        {
            AllowedPrefixes = new Dictionary<string, IReadOnlyList<string>> { [Namespace] = [$"file://{folder.Path}/"] },
            HttpAddress = "http://127.0.0.1:0",
            LeaseDuration = TimeSpan.FromSeconds(2),
            RenewDeadline = TimeSpan.FromSeconds(1.5),
            RetryPeriod = TimeSpan.FromMilliseconds(200),
            DefaultTtlAfterUnused = DefaultTtl,
        }, TimeProvider.System, new LoggerConfiguration().WriteTo.Sink(logs).CreateLogger());
        running = host.RunAsync(stop.Token);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await stop.CancelAsync();
        await running;
        client.Dispose();
        stores.Dispose();
        await api.DisposeAsync();
        folder.Dispose();
        stop.Dispose();
    }

    [Fact]
    public async Task GpuCheckpoint_IsConvertedForCpu_AndDeletionCleansTheVariantUp()
    {
        var source = folder.File("ck.pt");
        File.Copy(torch.GpuFile("checkpoint_dict"), source);

        await CreateAsync("train-n0-o0", "file://" + source);

        var ready = await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, "train-n0-o0") is { } o && o["status"]?["phase"]?.GetValue<string>() == "Ready" ? o : null);
        var variant = ready["status"]!["variants"]![0]!;
        Assert.Equal("cpu", variant["device"]!.GetValue<string>());
        var variantPath = StorageUri.Parse(variant["uri"]!.GetValue<string>()).Key;
        Assert.Empty(torch.Torch.Compare("checkpoint_dict", variantPath).Problems);
        Assert.Equal("torchferry.io/variants", ready["metadata"]!["finalizers"]![0]!.GetValue<string>());
        Assert.Equal(ready["metadata"]!["generation"]!.GetValue<long>(), ready["status"]!["observedGeneration"]!.GetValue<long>());
        await EventuallyAsync(() => api.Requests.Any(r => r.StartsWith($"POST /api/v1/namespaces/{Namespace}/events", StringComparison.Ordinal)) ? new JsonObject() : null);

        using var http = new HttpClient { BaseAddress = host.HttpEndpoint };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode);
        Assert.Contains("controller_runtime_reconcile_total{controller=\"checkpointartifacts\",result=\"success\"}", await http.GetStringAsync(new Uri("/metrics", UriKind.Relative)), StringComparison.Ordinal);

        await client.CustomObjects.DeleteNamespacedCustomObjectAsync(Group, Version, Namespace, "checkpointartifacts", "train-n0-o0");

        await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, "train-n0-o0") is null ? new JsonObject() : null);
        Assert.False(File.Exists(variantPath));
        Assert.True(File.Exists(source));
    }

    [Fact]
    public async Task FinalizerAddedFromAStaleCache_KeepsTheFinalizerAnotherControllerAddedMeanwhile()
    {
        var source = folder.File("shared.pt");
        File.Copy(torch.GpuFile("checkpoint_dict"), source);
        using var other = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = api.Endpoint.ToString() });
        var raced = 0;

        // Another controller adds its finalizer just before the operator's first patch arrives, so the
        // operator decides from a cached object that has none.
        api.Fault = request =>
        {
            if (request.Method == "PATCH" && request.Path.Value!.EndsWith("/checkpointartifacts/shared", StringComparison.Ordinal) && Interlocked.Exchange(ref raced, 1) == 0)
            {
                other.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("""{"metadata":{"finalizers":["example.com/audit"]}}""", V1Patch.PatchType.MergePatch), Group, Version, Namespace, "checkpointartifacts", "shared").GetAwaiter().GetResult();
            }

            return null;
        };
        await CreateAsync("shared", "file://" + source);

        var ready = await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, "shared") is { } o && o["status"]?["phase"]?.GetValue<string>() == "Ready" ? o : null);
        Assert.Equal(1, raced);
        Assert.Equal(["example.com/audit", ManagedObjects.VariantsFinalizer], ready["metadata"]!["finalizers"]!.AsArray().Select(f => f!.GetValue<string>()));
    }

    [Fact]
    public async Task SourceReplaced_IsReconvertedWhenTheArtifactIsTouched()
    {
        var source = folder.File("changing.pt");
        File.Copy(torch.GpuFile("checkpoint_dict"), source);
        await CreateAsync("changing", "file://" + source);
        var first = await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, "changing") is { } o && o["status"]?["phase"]?.GetValue<string>() == "Ready" ? o : null);
        var firstEtag = first["status"]!["variants"]![0]!["sourceEtag"]!.GetValue<string>();

        File.Copy(torch.GpuFile("tensor"), source, overwrite: true);
        File.SetLastWriteTimeUtc(source, DateTime.UtcNow.AddMinutes(1));
        await client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("""{"metadata":{"annotations":{"touched":"1"}}}""", V1Patch.PatchType.MergePatch), Group, Version, Namespace, "checkpointartifacts", "changing");

        var second = await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, "changing") is { } o && o["status"]?["variants"]?[0]?["sourceEtag"]?.GetValue<string>() is { } etag && etag != firstEtag ? o : null);
        Assert.Equal("tensor", second["status"]!["source"]!["kind"]!.GetValue<string>());
        Assert.Empty(torch.Torch.Compare("tensor", StorageUri.Parse(second["status"]!["variants"]![0]!["uri"]!.GetValue<string>()).Key).Problems);
    }

    [Fact]
    public async Task ArtifactOutsideTheAllowedPrefixes_IsRefusedWithACondition()
    {
        using var elsewhere = new TemporaryDirectory();
        var source = Path.Combine(elsewhere.Path, "ck.pt");
        File.Copy(torch.GpuFile("checkpoint_dict"), source);

        await CreateAsync("forbidden", "file://" + source);

        var failed = await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, "forbidden") is { } o && o["status"]?["phase"]?.GetValue<string>() == "Failed" ? o : null);
        var ready = failed["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "Ready")!;
        Assert.Equal(("False", "ForbiddenUri"), (ready["status"]!.GetValue<string>(), ready["reason"]!.GetValue<string>()));
        Assert.Equal(["ck.pt"], Directory.GetFiles(elsewhere.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task TaskOutputs_OneBlobTheCrdRefuses_TheOtherIsRegistered_TheRefusalReportedOnceWithoutRetries()
    {
        // A GCS blob next to a local one: the CRD's URI pattern refuses the first (422).
        var prefix = Path.Combine(folder.Path, "exec2", "n0", "data", "0");
        Directory.CreateDirectory(Path.Combine(prefix, "o1"));
        var checkpoint = Path.Combine(prefix, "o1", "ck.pt");
        File.Copy(torch.GpuFile("checkpoint_dict"), checkpoint);
        await File.WriteAllBytesAsync(Path.Combine(prefix, "outputs.pb"), FlyteIdl.Encode(new JsonObject
        {
            ["literals"] = new JsonObject
            {
                ["o0"] = FlyteIdl.BlobLiteral("PyTorchCheckpoint", "gs://flyte-bucket/exec2/n0/o0/ck.pt"),
                ["o1"] = FlyteIdl.BlobLiteral("PyTorchCheckpoint", "file://" + checkpoint),
            },
        }));
        await FlyteTaskPods.CreateAsync(client, Namespace, "mixed-train", "n0", $"file://{folder.Path}/exec2/n0/inputs.pb", $"file://{prefix}", annotations: null, succeeded: true);

        var good = TorchFerry.Operator.Flyte.ArtifactNames.For("file://" + checkpoint);
        await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, good) is { } o && o["status"]?["phase"]?.GetValue<string>() == "Ready" ? o : null);
        var refused = await EventuallyAsync(async () => (await client.CoreV1.ListNamespacedEventAsync(Namespace)).Items.FirstOrDefault(e => e.Reason == ConditionReasons.Rejected));
        await Task.Delay(TimeSpan.FromSeconds(2)); // a retry loop would have sent many more by now (backoff starts at 5 ms)

        var rejectedName = TorchFerry.Operator.Flyte.ArtifactNames.For("gs://flyte-bucket/exec2/n0/o0/ck.pt");
        Assert.Equal(("Pod", "mixed-train", "Warning"), (refused.InvolvedObject.Kind, refused.InvolvedObject.Name, refused.Type));
        Assert.Contains("gs://flyte-bucket/exec2/n0/o0/ck.pt", refused.Message, StringComparison.Ordinal);
        Assert.Contains("422", refused.Message, StringComparison.Ordinal);
        Assert.Equal(1, refused.Count ?? 1);
        Assert.Single((await client.CoreV1.ListNamespacedEventAsync(Namespace)).Items, e => e.Reason == ConditionReasons.Rejected);
        Assert.Equal(2, api.Requests.Count(r => r.StartsWith($"POST /apis/{Group}/{Version}/namespaces/{Namespace}/checkpointartifacts", StringComparison.Ordinal))); // the good one and the refused one, once
        Assert.Equal(1, api.Requests.Count(r => r == $"GET /apis/{Group}/{Version}/namespaces/{Namespace}/checkpointartifacts/{rejectedName}"));
        Assert.Null(api.Get(Group, Version, "checkpointartifacts", Namespace, rejectedName));
    }

    [Fact]
    public async Task GpuTaskOutput_IsRegistered_AndACpuConsumerPodGetsItConverted()
    {
        // A GPU task wrote a checkpoint and its outputs.pb, as flytekit does.
        var prefix = Path.Combine(folder.Path, "exec1", "n0", "data", "0");
        Directory.CreateDirectory(Path.Combine(prefix, "o0"));
        var checkpoint = Path.Combine(prefix, "o0", "ck.pt");
        File.Copy(torch.GpuFile("checkpoint_dict"), checkpoint);
        var blob = FlyteIdl.BlobLiteral("PyTorchCheckpoint", "file://" + checkpoint);
        await File.WriteAllBytesAsync(Path.Combine(prefix, "outputs.pb"), FlyteIdl.Encode(new JsonObject { ["literals"] = new JsonObject { ["o0"] = blob.DeepClone() } }));
        await FlyteTaskPods.CreateAsync(client, Namespace, "gpu-train", "n0", $"file://{folder.Path}/exec1/n0/inputs.pb", $"file://{prefix}", annotations: null, succeeded: true);

        var name = TorchFerry.Operator.Flyte.ArtifactNames.For("file://" + checkpoint);
        var registered = await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, name));
        Assert.Equal(("exec1", "n0", "o0"), (registered["spec"]!["producer"]!["execution"]!.GetValue<string>(), registered["spec"]!["producer"]!["node"]!.GetValue<string>(), registered["spec"]!["producer"]!["output"]!.GetValue<string>()));

        // A CPU task that consumes it is pending, as the webhook left it: --inputs names the file
        // prepare-inputs will write (not there yet), the annotations name the device and the original inputs.
        var inputs = Path.Combine(folder.Path, "exec1", "n1", "inputs.pb");
        Directory.CreateDirectory(Path.GetDirectoryName(inputs)!);
        await File.WriteAllBytesAsync(inputs, FlyteIdl.Encode(new JsonObject { ["literals"] = new JsonObject { ["model"] = blob.DeepClone() } }));
        var prepared = $"file://{folder.Path}/exec1/n1/0/torchferry-inputs.pb";
        await FlyteTaskPods.CreateAsync(client, Namespace, "cpu-eval", "n1", prepared, $"file://{folder.Path}/exec1/n1/0", new Dictionary<string, string> { [Annotations.TargetDevice] = "cpu", [Annotations.InputsSource] = "file://" + inputs }, succeeded: false);

        var ready = await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, name) is { } o && o["status"]?["phase"]?.GetValue<string>() == "Ready" && o["status"]?["variants"] is JsonArray { Count: 1 } ? o : null);
        Assert.Equal("cpu", ready["spec"]!["targetDevices"]![0]!.GetValue<string>());
        var variant = StorageUri.Parse(ready["status"]!["variants"]![0]!["uri"]!.GetValue<string>()).Key;
        Assert.Empty(torch.Torch.Compare("checkpoint_dict", variant).Problems);
    }

    [Fact]
    public async Task VariantUnusedPastItsTtl_IsDeleted_AndMadeAgainForTheNextConsumer()
    {
        var (prefix, checkpoint, inputs) = await CheckpointPassedOnAsync("exec9");
        var name = TorchFerry.Operator.Flyte.ArtifactNames.For("file://" + checkpoint);
        Task ConsumerAsync(string pod) => FlyteTaskPods.CreateAsync(client, Namespace, pod, "n1", $"file://{folder.Path}/exec9/n1/0/torchferry-inputs.pb", $"file://{folder.Path}/exec9/n1/0", new Dictionary<string, string> { [Annotations.TargetDevice] = "cpu", [Annotations.InputsSource] = "file://" + inputs }, succeeded: false);
        JsonObject? WithVariant() => api.Get(Group, Version, "checkpointartifacts", Namespace, name) is { } o && o["status"]?["variants"] is JsonArray { Count: 1 } ? o : null;

        await FlyteTaskPods.CreateAsync(client, Namespace, "ttl-train", "n0", $"file://{folder.Path}/exec9/n0/inputs.pb", $"file://{prefix}", annotations: null, succeeded: true);
        await ConsumerAsync("ttl-eval-1");
        var first = await EventuallyAsync(WithVariant);
        Assert.Equal(DefaultTtl, first["spec"]!["ttlAfterUnused"]!.GetValue<string>());
        await client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("""{"spec":{"ttlAfterUnused":"4s"}}""", V1Patch.PatchType.MergePatch), Group, Version, Namespace, "checkpointartifacts", name);
        Assert.NotNull(first["metadata"]!["annotations"]![Annotations.LastUsed("cpu")]);
        Assert.NotNull(first["status"]!["variants"]![0]!["lastUsedAt"]);
        var variant = StorageUri.Parse(first["status"]!["variants"]![0]!["uri"]!.GetValue<string>()).Key;
        Assert.True(File.Exists(variant));

        // Nobody asks for it: past the TTL the variant is deleted, the source kept, cpu still a target.
        var expired = await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, name) is { } o && o["status"]?["variants"] is JsonArray { Count: 0 } ? o : null);
        Assert.False(File.Exists(variant), "the expired variant is still on disk");
        Assert.True(File.Exists(checkpoint));
        Assert.Equal("Ready", expired["status"]!["phase"]!.GetValue<string>());
        Assert.Contains("unused for 4s", expired["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "Ready")!["message"]!.GetValue<string>(), StringComparison.Ordinal);

        // The next consumer asks again: the variant is made again.
        await ConsumerAsync("ttl-eval-2");
        await EventuallyAsync(WithVariant);
        Assert.True(File.Exists(variant));
        Assert.Empty(torch.Torch.Compare("checkpoint_dict", variant).Problems);
    }

    [Fact]
    public async Task CheckpointReadByManyExecutions_KeepsTheNewestOwners_AndGoesWithTheLastWorkflow()
    {
        api.Register("flyte.lyft.com", "v1alpha1", "flyteworkflows", "flyteworkflow", statusSubresource: false);
        V1OwnerReference Workflow(int i)
        {
            var made = api.CreateObject("flyte.lyft.com", "v1alpha1", "flyteworkflows", Namespace, new JsonObject { ["apiVersion"] = "flyte.lyft.com/v1alpha1", ["kind"] = "flyteworkflow", ["metadata"] = new JsonObject { ["name"] = $"w{i}" } });
            return new V1OwnerReference { ApiVersion = "flyte.lyft.com/v1alpha1", Kind = "flyteworkflow", Name = $"w{i}", Uid = made["metadata"]!["uid"]!.GetValue<string>(), Controller = true, BlockOwnerDeletion = true };
        }

        var (prefix, checkpoint, inputs) = await CheckpointPassedOnAsync("shared");
        var name = TorchFerry.Operator.Flyte.ArtifactNames.For("file://" + checkpoint);
        string[] Owners() => [.. (api.Get(Group, Version, "checkpointartifacts", Namespace, name)?["metadata"]?["ownerReferences"] as JsonArray ?? []).Select(o => o!["name"]!.GetValue<string>())];

        await FlyteTaskPods.CreateAsync(client, Namespace, "shared-train", "n0", $"file://{folder.Path}/shared/n0/inputs.pb", $"file://{prefix}", annotations: null, succeeded: true, Workflow(0));
        await EventuallyAsync(() => Owners() is ["w0"] ? new JsonObject() : null);
        var consumers = TorchFerry.Operator.Flyte.FlytePodReconciler.MaxWorkflowOwners + 2;
        for (var i = 1; i <= consumers; i++)
        {
            await FlyteTaskPods.CreateAsync(client, Namespace, $"shared-eval-{i}", "n1", $"file://{folder.Path}/shared/{i}/torchferry-inputs.pb", $"file://{folder.Path}/shared/{i}", new Dictionary<string, string> { [Annotations.TargetDevice] = "cpu", [Annotations.InputsSource] = "file://" + inputs }, succeeded: false, Workflow(i));
            var expected = $"w{i}";
            await EventuallyAsync(() => Owners().Contains(expected) ? new JsonObject() : null);
        }

        // The newest 32 executions own it, not 35: the object stays small however many read it.
        Assert.Equal(Enumerable.Range(consumers - 31, 32).Select(i => $"w{i}"), Owners());
        var variant = StorageUri.Parse((await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, name) is { } o && o["status"]?["variants"] is JsonArray { Count: 1 } ? o : null))["status"]!["variants"]![0]!["uri"]!.GetValue<string>()).Key;

        // Propeller collects the workflows one by one: the collector drops each reference, then the artifact with the last.
        using var http = new HttpClient { BaseAddress = api.Endpoint };
        for (var i = consumers; i >= consumers - 31; i--)
        {
            Assert.NotNull(api.Get(Group, Version, "checkpointartifacts", Namespace, name));
            using var deleted = await http.DeleteAsync(new Uri($"/apis/flyte.lyft.com/v1alpha1/namespaces/{Namespace}/flyteworkflows/w{i}", UriKind.Relative));
            deleted.EnsureSuccessStatusCode();
            if (i > consumers - 31)
            {
                // Other owners left: only the reference goes (the last one's stays on the object being deleted).
                var gone = $"w{i}";
                Assert.DoesNotContain(gone, Owners());
            }
        }

        await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, name) is null ? new JsonObject() : null);
        Assert.False(File.Exists(variant), "the variant outlived its artifact");
        Assert.True(File.Exists(checkpoint));
    }

    [Fact]
    public async Task TaskOutputs_FlyteFileHoldingACheckpoint_IsRegisteredByContent_ACsvIsNot()
    {
        var prefix = Path.Combine(folder.Path, "exec4", "n0", "data", "0");
        Directory.CreateDirectory(prefix);
        var checkpoint = Path.Combine(prefix, "model.ckpt");
        File.Copy(torch.GpuFile("checkpoint_dict"), checkpoint);
        var csv = Path.Combine(prefix, "metrics.csv");
        await File.WriteAllTextAsync(csv, "epoch,loss\n1,0.5\n");
        await File.WriteAllBytesAsync(Path.Combine(prefix, "outputs.pb"), FlyteIdl.Encode(new JsonObject
        {
            ["literals"] = new JsonObject
            {
                ["model"] = FlyteIdl.BlobLiteral("ckpt", "file://" + checkpoint),
                ["metrics"] = FlyteIdl.BlobLiteral("csv", "file://" + csv),
            },
        }));

        await FlyteTaskPods.CreateAsync(client, Namespace, "file-train", "n0", $"file://{folder.Path}/exec4/n0/inputs.pb", $"file://{prefix}", annotations: null, succeeded: true);

        var registered = await EventuallyAsync(() => api.Get(Group, Version, "tensorartifacts", Namespace, TorchFerry.Operator.Flyte.ArtifactNames.For("file://" + checkpoint)) is { } o && o["status"]?["phase"]?.GetValue<string>() == "Ready" ? o : null);
        Assert.Equal("TorchFile", registered["spec"]!["source"]!["format"]!.GetValue<string>());
        Assert.Equal("model", registered["spec"]!["producer"]!["output"]!.GetValue<string>());
        Assert.Equal("checkpoint", registered["status"]!["source"]!["kind"]!.GetValue<string>());
        Assert.Null(api.Get(Group, Version, "tensorartifacts", Namespace, TorchFerry.Operator.Flyte.ArtifactNames.For("file://" + csv)));
        Assert.Null(api.Get(Group, Version, "checkpointartifacts", Namespace, TorchFerry.Operator.Flyte.ArtifactNames.For("file://" + csv)));
    }

    [Fact]
    public async Task TaskOutputs_FlyteDirectoryOfShards_IsRegistered_ConvertedForAConsumer_AndItsVariantGoesWithTheArtifact()
    {
        // A FlyteDirectory of two GPU shards and a README, as outputs.pb names it (MULTIPART, format "").
        var prefix = Path.Combine(folder.Path, "exec5", "n0", "data", "0");
        var shards = Path.Combine(prefix, "abc", "shards");
        Directory.CreateDirectory(Path.Combine(shards, "more"));
        File.Copy(torch.GpuFile("checkpoint_dict"), Path.Combine(shards, "shard-0.pt"));
        File.Copy(torch.GpuFile("tensor"), Path.Combine(shards, "more", "shard-1.bin"));
        await File.WriteAllTextAsync(Path.Combine(shards, "README.md"), "# shards\n");
        var directory = $"file://{shards}/";
        var literal = FlyteIdl.DirectoryLiteral(string.Empty, $"file://{shards}"); // flytekit may leave the '/' off
        await File.WriteAllBytesAsync(Path.Combine(prefix, "outputs.pb"), FlyteIdl.Encode(new JsonObject { ["literals"] = new JsonObject { ["shards"] = literal.DeepClone() } }));
        await FlyteTaskPods.CreateAsync(client, Namespace, "dir-train", "n0", $"file://{folder.Path}/exec5/n0/inputs.pb", $"file://{prefix}", annotations: null, succeeded: true);

        var name = TorchFerry.Operator.Flyte.ArtifactNames.For(directory);
        var registered = await EventuallyAsync(() => api.Get(Group, Version, "tensorartifacts", Namespace, name) is { } o && o["status"]?["phase"]?.GetValue<string>() == "Ready" ? o : null);
        Assert.Equal("TorchDirectory", registered["spec"]!["source"]!["format"]!.GetValue<string>());
        Assert.Equal("directory", registered["status"]!["source"]!["kind"]!.GetValue<string>());
        Assert.Equal(["cuda:0"], registered["status"]!["source"]!["devices"]!.AsArray().Select(d => d!.GetValue<string>()));
        Assert.True(registered["status"]!["source"]!["tensorCount"]!.GetValue<int>() > 2, "the tensors of both shards are counted");

        // A CPU consumer pending: the operator converts the folder for it.
        var inputs = Path.Combine(folder.Path, "exec5", "n1", "inputs.pb");
        Directory.CreateDirectory(Path.GetDirectoryName(inputs)!);
        await File.WriteAllBytesAsync(inputs, FlyteIdl.Encode(new JsonObject { ["literals"] = new JsonObject { ["shards"] = literal.DeepClone() } }));
        await FlyteTaskPods.CreateAsync(client, Namespace, "dir-eval", "n1", $"file://{folder.Path}/exec5/n1/0/torchferry-inputs.pb", $"file://{folder.Path}/exec5/n1/0", new Dictionary<string, string> { [Annotations.TargetDevice] = "cpu", [Annotations.InputsSource] = "file://" + inputs }, succeeded: false);

        var ready = await EventuallyAsync(() => api.Get(Group, Version, "tensorartifacts", Namespace, name) is { } o && o["status"]?["variants"] is JsonArray { Count: 1 } ? o : null);
        var variant = ready["status"]!["variants"]![0]!["uri"]!.GetValue<string>();
        Assert.Equal($"file://{prefix}/abc/shards.torchferry-cpu/", variant);
        var variantFolder = StorageUri.Parse(variant).Key;
        Assert.Empty(torch.Torch.Compare("checkpoint_dict", Path.Combine(variantFolder, "shard-0.pt")).Problems);
        Assert.Empty(torch.Torch.Compare("tensor", Path.Combine(variantFolder, "more", "shard-1.bin")).Problems);
        Assert.Equal("# shards\n", await File.ReadAllTextAsync(Path.Combine(variantFolder, "README.md")));
        Assert.True(File.Exists($"{prefix}/abc/shards.torchferry-cpu.json"));

        // The artifact goes (policy Delete): its variant folder and manifest go, the source stays.
        await client.CustomObjects.DeleteNamespacedCustomObjectAsync(Group, Version, Namespace, "tensorartifacts", name);
        await EventuallyAsync(() => Task.FromResult(api.Get(Group, Version, "tensorartifacts", Namespace, name) is null ? "gone" : null));
        Assert.False(Directory.Exists(variantFolder));
        Assert.False(File.Exists($"{prefix}/abc/shards.torchferry-cpu.json"));
        Assert.True(File.Exists(Path.Combine(shards, "shard-0.pt")));
    }

    [Fact]
    public async Task TaskOutputs_OffloadedLiteral_ItsBlobsAreRegisteredUnderItsPath()
    {
        // flytekit with _F_L_MIN_SIZE_MB: output o0 (a list of checkpoints) is in its own file, outputs.pb points at it.
        var prefix = Path.Combine(folder.Path, "exec3", "n0", "data", "0");
        Directory.CreateDirectory(prefix);
        var checkpoints = new[] { Path.Combine(prefix, "a.pt"), Path.Combine(prefix, "b.pt") };
        foreach (var checkpoint in checkpoints)
        {
            File.Copy(torch.GpuFile("checkpoint_dict"), checkpoint);
        }

        var offloaded = Path.Combine(prefix, "o0_offloaded_metadata.pb");
        await File.WriteAllBytesAsync(offloaded, FlyteIdl.EncodeLiteral(new JsonObject
        {
            ["collection"] = new JsonObject { ["literals"] = new JsonArray([.. checkpoints.Select(c => (JsonNode)FlyteIdl.BlobLiteral("PyTorchCheckpoint", "file://" + c))]) },
        }));
        await File.WriteAllBytesAsync(Path.Combine(prefix, "outputs.pb"), FlyteIdl.Encode(new JsonObject
        {
            ["literals"] = new JsonObject { ["o0"] = new JsonObject { ["offloadedMetadata"] = new JsonObject { ["uri"] = "file://" + offloaded, ["sizeBytes"] = new FileInfo(offloaded).Length } } },
        }));

        await FlyteTaskPods.CreateAsync(client, Namespace, "offloading-train", "n0", $"file://{folder.Path}/exec3/n0/inputs.pb", $"file://{prefix}", annotations: null, succeeded: true);

        foreach (var (checkpoint, index) in checkpoints.Select((c, i) => (c, i)))
        {
            var registered = await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, TorchFerry.Operator.Flyte.ArtifactNames.For("file://" + checkpoint)));
            Assert.Equal($"o0[{index}]", registered["spec"]!["producer"]!["output"]!.GetValue<string>());
        }
    }

    [Theory]
    [MemberData(nameof(DeviceNames.Refused), MemberType = typeof(DeviceNames))]
    public async Task ConsumerPod_TargetDeviceNotADevice_IsSkippedWithAnEvent(string device)
    {
        var checkpoint = folder.File("ck.pt");
        File.Copy(torch.GpuFile("checkpoint_dict"), checkpoint);
        var inputs = folder.File("inputs.pb");
        await File.WriteAllBytesAsync(inputs, FlyteIdl.Encode(new JsonObject { ["literals"] = new JsonObject { ["model"] = FlyteIdl.BlobLiteral("PyTorchCheckpoint", "file://" + checkpoint) } }));

        await FlyteTaskPods.CreateAsync(client, Namespace, "cpu-eval", "n1", "file://" + inputs, $"file://{folder.Path}/n1", new Dictionary<string, string> { [Annotations.TargetDevice] = device }, succeeded: false);

        var warning = await EventuallyAsync<Corev1Event>(async () => (await client.CoreV1.ListNamespacedEventAsync(Namespace)).Items.FirstOrDefault(e => e.Reason == ConditionReasons.InvalidAnnotation));
        Assert.Equal(("Pod", "Warning"), (warning.InvolvedObject.Kind, warning.Type));
        Assert.Contains($"'{device}': not a device", warning.Message, StringComparison.Ordinal);
        Assert.Null(api.Get(Group, Version, "checkpointartifacts", Namespace, TorchFerry.Operator.Flyte.ArtifactNames.For("file://" + checkpoint)));
    }

    [Fact]
    public async Task Artifact_TargetDeviceNotADevice_FailsForGood_WithoutARetryLoop()
    {
        // The CRD schema refuses it at the API server; an object written under an older CRD may still hold it.
        var source = folder.File("ck.pt");
        File.Copy(torch.GpuFile("checkpoint_dict"), source);
        var artifact = new CheckpointArtifact
        {
            ApiVersion = $"{Group}/{Version}",
            Kind = nameof(CheckpointArtifact),
            Metadata = new V1ObjectMeta { Name = "mps", NamespaceProperty = Namespace },
            Spec = new ArtifactSpec { Source = new ArtifactSource { Uri = "file://" + source, Format = FlyteBlobFormat.PyTorchCheckpoint }, TargetDevices = ["mps"] },
        };
        var refused = await Assert.ThrowsAsync<k8s.Autorest.HttpOperationException>(() => client.CustomObjects.CreateNamespacedCustomObjectAsync(artifact, Group, Version, Namespace, "checkpointartifacts"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Response.StatusCode);
        Assert.Contains("spec.targetDevices[0]", refused.Response.Content, StringComparison.Ordinal);
        api.StoreAsOlderSchemaAccepted(Group, Version, "checkpointartifacts", Namespace, JsonNode.Parse(KubernetesJson.Serialize(artifact))!.AsObject());

        var failed = await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, "mps") is { } o && o["status"]?["phase"]?.GetValue<string>() == "Failed" ? o : null);
        var ready = failed["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "Ready")!;
        Assert.Equal(ConditionReasons.InvalidDevice, ready["reason"]!.GetValue<string>());
        Assert.Contains("spec.targetDevices 'mps': not a device", ready["message"]!.GetValue<string>(), StringComparison.Ordinal);
        var terminal = await EventuallyAsync(async () => TerminalCount(await MetricsAsync()) is > 0 and var n ? n.ToString(System.Globalization.CultureInfo.InvariantCulture) : null);
        await Task.Delay(TimeSpan.FromSeconds(1));
        var metrics = await MetricsAsync();
        Assert.Equal(terminal, TerminalCount(metrics)?.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.DoesNotContain("controller_runtime_reconcile_total{controller=\"checkpointartifacts\",result=\"error\"}", metrics, StringComparison.Ordinal);
        Assert.Equal([Path.GetFileName(source)], Directory.GetFiles(folder.Path).Select(Path.GetFileName));
    }

    [Theory]
    [InlineData("torch+os.system", ConditionReasons.UnsafePickle)]
    [InlineData("aliased-records", ConditionReasons.CorruptArchive)]
    [InlineData("twenty-million-digits", ConditionReasons.LimitExceeded)]
    public async Task HostileSource_FailsWithItsReason_AndTheOperatorLivesOn(string hostile, string reason)
    {
        var source = folder.File("hostile.pt");
        await File.WriteAllBytesAsync(source, HostileArchives.All(folder.File("marker")).Single(c => c.Name == hostile).Archive);

        await CreateAsync("hostile", "file://" + source);

        var failed = await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, "hostile") is { } o && o["status"]?["phase"]?.GetValue<string>() == "Failed" ? o : null);
        var ready = failed["status"]!["conditions"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "Ready")!;
        Assert.Equal(reason, ready["reason"]!.GetValue<string>());
        Assert.False(File.Exists(folder.File("marker")));

        // Still serving: a good artifact after it is converted.
        var good = folder.File("good.pt");
        File.Copy(torch.GpuFile("tensor"), good);
        await CreateAsync("good", "file://" + good);
        await EventuallyAsync(() => api.Get(Group, Version, "checkpointartifacts", Namespace, "good") is { } o && o["status"]?["phase"]?.GetValue<string>() == "Ready" ? o : null);
    }

    [Fact]
    public async Task Metrics_ControllerRuntimeNames_AndProcessAndRuntimeMetrics()
    {
        var metrics = await EventuallyAsync(async () => await MetricsAsync() is var text && text.Contains("workqueue_depth{name=\"flyte-pods\"}", StringComparison.Ordinal) ? text : null);

        foreach (var family in new[] { "controller_runtime_reconcile_total counter", "controller_runtime_reconcile_errors_total counter", "controller_runtime_terminal_reconcile_errors_total counter", "controller_runtime_reconcile_time_seconds histogram", "workqueue_adds_total counter", "workqueue_depth gauge", "process_cpu_seconds_total counter", "process_working_set_bytes gauge", "dotnet_collection_count_total counter" })
        {
            Assert.Contains($"# TYPE {family}", metrics, StringComparison.Ordinal);
        }

        // What the process has allocated, read at each scrape: it only grows, and it is not nothing.
        static double Allocated(string text) => double.Parse(text.Split('\n').Single(l => l.StartsWith("dotnet_gc_allocated_bytes_total ", StringComparison.Ordinal)).Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var first = Allocated(metrics);
        var second = Allocated(await MetricsAsync());
        Assert.True(first > 1 << 20 && second > first, $"allocated {first} then {second} bytes");
    }

    private static double? TerminalCount(string metrics) =>
        metrics.Split('\n').Where(l => l.StartsWith("controller_runtime_reconcile_total{controller=\"checkpointartifacts\",result=\"terminal\"}", StringComparison.Ordinal))
            .Select(l => (double?)double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();

    private async Task<string> MetricsAsync()
    {
        using var http = new HttpClient { BaseAddress = await Poll.UntilAsync(() => host.HttpEndpoint, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(50)) };
        return await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
    }

    private Task<object> CreateAsync(string name, string uri) => client.CustomObjects.CreateNamespacedCustomObjectAsync(
        new CheckpointArtifact
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = Namespace },
            Spec = new ArtifactSpec { Source = new ArtifactSource { Uri = uri, Format = FlyteBlobFormat.PyTorchCheckpoint }, TargetDevices = ["cpu"] },
        },
        Group,
        Version,
        Namespace,
        "checkpointartifacts");

    // A GPU task of the execution (node n0) wrote a checkpoint and its outputs.pb (output o0); the
    // inputs.pb of node n1 binds it as "model", as propeller passes it on to a consumer.
    private async Task<(string Prefix, string Checkpoint, string Inputs)> CheckpointPassedOnAsync(string execution)
    {
        var prefix = Path.Combine(folder.Path, execution, "n0", "data", "0");
        Directory.CreateDirectory(prefix);
        var checkpoint = Path.Combine(prefix, "ck.pt");
        File.Copy(torch.GpuFile("checkpoint_dict"), checkpoint);
        var blob = FlyteIdl.BlobLiteral("PyTorchCheckpoint", "file://" + checkpoint);
        await File.WriteAllBytesAsync(Path.Combine(prefix, "outputs.pb"), FlyteIdl.Encode(new JsonObject { ["literals"] = new JsonObject { ["o0"] = blob.DeepClone() } }));
        var inputs = Path.Combine(folder.Path, execution, "n1", "inputs.pb");
        Directory.CreateDirectory(Path.GetDirectoryName(inputs)!);
        await File.WriteAllBytesAsync(inputs, FlyteIdl.Encode(new JsonObject { ["literals"] = new JsonObject { ["model"] = blob.DeepClone() } }));
        return (prefix, checkpoint, inputs);
    }

    private Task<JsonObject> EventuallyAsync(Func<JsonObject?> probe) =>
        Poll.UntilAsync(probe, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(50), () => "operator log:\n" + string.Join("\n", logs.Lines.TakeLast(10)));

    private Task<T> EventuallyAsync<T>(Func<Task<T?>> probe)
        where T : class =>
        Poll.UntilAsync(probe, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(50), () => "operator log:\n" + string.Join("\n", logs.Lines.TakeLast(10)));
}
