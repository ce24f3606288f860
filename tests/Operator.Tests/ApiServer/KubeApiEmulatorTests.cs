using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;
using TorchFerry.Crds;
using TorchFerry.TestSupport.Kubernetes;

namespace TorchFerry.Operator.Tests.ApiServer;

/// <summary>The emulator keeps the API server's rules the operator relies on.</summary>
public sealed class KubeApiEmulatorTests : IAsyncLifetime
{
    private const string Group = "torchferry.io";
    private const string Version = "v1alpha1";
    private const string Plural = "checkpointartifacts";
    private const string Namespace = "flyte";
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
    public async Task Update_WithAStaleResourceVersion_IsAConflict()
    {
        var created = await CreateAsync("a");
        var stale = created.Metadata.ResourceVersion;
        created.Spec = created.Spec with { TargetDevices = ["cpu", "cuda:0"] };
        await client.CustomObjects.ReplaceNamespacedCustomObjectAsync(created, Group, Version, Namespace, Plural, "a");

        created.Metadata.ResourceVersion = stale;
        var error = await Assert.ThrowsAsync<HttpOperationException>(() => client.CustomObjects.ReplaceNamespacedCustomObjectAsync(created, Group, Version, Namespace, Plural, "a"));

        Assert.Equal(HttpStatusCode.Conflict, error.Response.StatusCode);
    }

    [Fact]
    public async Task Generation_ChangesWithTheSpecOnly_AndStatusGoesThroughItsSubresource()
    {
        var created = await CreateAsync("b");
        Assert.Equal(1, created.Metadata.Generation);

        created.Status = new ArtifactStatus { Phase = ArtifactPhase.Ready };
        var afterStatus = Read(await client.CustomObjects.ReplaceNamespacedCustomObjectStatusAsync(created, Group, Version, Namespace, Plural, "b"));
        Assert.Equal((1L, ArtifactPhase.Ready), (afterStatus.Metadata.Generation ?? 0, afterStatus.Status!.Phase));

        afterStatus.Metadata.Labels = new Dictionary<string, string> { ["x"] = "y" };
        afterStatus.Status = null; // the main resource ignores status
        var afterLabel = Read(await client.CustomObjects.ReplaceNamespacedCustomObjectAsync(afterStatus, Group, Version, Namespace, Plural, "b"));
        Assert.Equal(1, afterLabel.Metadata.Generation);
        Assert.Equal(ArtifactPhase.Ready, afterLabel.Status!.Phase);

        afterLabel.Spec = afterLabel.Spec with { TargetDevices = ["cuda:1"] };
        var afterSpec = Read(await client.CustomObjects.ReplaceNamespacedCustomObjectAsync(afterLabel, Group, Version, Namespace, Plural, "b"));
        Assert.Equal(2, afterSpec.Metadata.Generation);
    }

    [Fact]
    public async Task Delete_WithAFinalizer_MarksTheObject_UntilTheFinalizerIsRemoved()
    {
        var created = await CreateAsync("c", finalizer: "torchferry.io/variants");

        await client.CustomObjects.DeleteNamespacedCustomObjectAsync(Group, Version, Namespace, Plural, "c");
        var marked = Read(await client.CustomObjects.GetNamespacedCustomObjectAsync(Group, Version, Namespace, Plural, "c"));
        Assert.NotNull(marked.Metadata.DeletionTimestamp);

        await client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""[{"op":"remove","path":"/metadata/finalizers/0"}]""", V1Patch.PatchType.JsonPatch), Group, Version, Namespace, Plural, "c");
        var error = await Assert.ThrowsAsync<HttpOperationException>(() => client.CustomObjects.GetNamespacedCustomObjectAsync(Group, Version, Namespace, Plural, "c"));
        Assert.Equal(HttpStatusCode.NotFound, error.Response.StatusCode);
        Assert.NotNull(created);
    }

    [Fact]
    public async Task Create_Twice_IsAlreadyExists()
    {
        await CreateAsync("d");

        var error = await Assert.ThrowsAsync<HttpOperationException>(() => CreateAsync("d"));

        Assert.Equal(HttpStatusCode.Conflict, error.Response.StatusCode);
    }

    private async Task<CheckpointArtifact> CreateAsync(string name, string? finalizer = null) => Read(await client.CustomObjects.CreateNamespacedCustomObjectAsync(
        new CheckpointArtifact
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = Namespace, Finalizers = finalizer is null ? null : [finalizer] },
            Spec = new ArtifactSpec { Source = new ArtifactSource { Uri = $"s3://bucket/{name}.pt", Format = FlyteBlobFormat.PyTorchCheckpoint }, TargetDevices = ["cpu"] },
        },
        Group,
        Version,
        Namespace,
        Plural));

    private static CheckpointArtifact Read(object response) => KubernetesJson.Deserialize<CheckpointArtifact>(((JsonElement)response).GetRawText());
}
