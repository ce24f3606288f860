using Serilog;
using TorchFerry.Crds;
using TorchFerry.Operator.Artifacts;
using TorchFerry.Storage;
using TorchFerry.Storage.S3;
using TorchFerry.TestSupport;

namespace TorchFerry.Operator.Tests.Artifacts;

/// <summary>
/// Variants under a bucket-level prefix (the chart's variants.prefix), against s3rver: written there
/// for files and folders, loadable on the CPU, deleted from there, the sources untouched, and nothing
/// beside the sources.
/// </summary>
[Collection(S3Collection.Name)]
public sealed class VariantPrefixTests(S3Fixture s3, TorchFixtures torch) : IDisposable
{
    private const string Namespace = "team-a";
    private const string Prefix = "torchferry-variants/";
    private readonly TemporaryDirectory folder = new();
    private readonly ObjectStoreRouter stores = new(
        new S3StoreOptions { Endpoint = s3.Server.Endpoint, Credentials = (S3Server.AccessKey, S3Server.SecretKey), PartSize = S3StoreOptions.MinimumPartSize, MaxErrorRetry = 1 },
        new LoggerConfiguration().CreateLogger());

    [Fact]
    public async Task Sync_File_WritesTheVariantUnderThePrefix_TorchLoadsItOnCpu_CleanupDeletesIt()
    {
        var key = S3Fixture.UniqueKey("team-a/n0/ck.pt");
        await s3.PutFileAsync(key, torch.GpuFile("checkpoint_dict"));
        var spec = new ArtifactSpec { Source = new ArtifactSource { Uri = $"s3://{S3Server.Bucket}/{key}", Format = FlyteBlobFormat.PyTorchCheckpoint }, TargetDevices = ["cpu"] };
        var synchronizer = Synchronizer($"s3://{S3Server.Bucket}/{key[..key.IndexOf('/', StringComparison.Ordinal)]}/team-a/");

        var status = await synchronizer.SyncAsync(Namespace, spec, null, 1, default);

        Assert.Equal(ArtifactPhase.Ready, status.Phase);
        var variant = Assert.Single(status.Variants!).Uri;
        Assert.Equal($"s3://{S3Server.Bucket}/{Prefix}{key[..^3]}.torchferry-cpu.pt", variant);
        Assert.False(await s3.ExistsAsync(key[..^3] + ".torchferry-cpu.pt"));
        var local = folder.File("variant.pt");
        await s3.GetFileAsync(StorageUri.Parse(variant).Key, local);
        Assert.Empty(torch.Torch.Compare("checkpoint_dict", local).Problems);

        await synchronizer.CleanupAsync(Namespace, spec, status, default);

        Assert.False(await s3.ExistsAsync(StorageUri.Parse(variant).Key));
        Assert.True(await s3.ExistsAsync(key));
    }

    [Fact]
    public async Task Sync_Folder_WritesTheVariantFolderAndManifestUnderThePrefix_CleanupDeletesThem()
    {
        var directory = S3Fixture.UniqueKey("team-a/n0/shards/");
        await s3.PutFileAsync(directory + "part-0.pt", torch.GpuFile("tensor"));
        await s3.PutFileAsync(directory + "part-1.pt", torch.GpuFile("checkpoint_dict"));
        var spec = new ArtifactSpec { Source = new ArtifactSource { Uri = $"s3://{S3Server.Bucket}/{directory}", Format = FlyteBlobFormat.TorchDirectory }, TargetDevices = ["cpu"] };
        var synchronizer = Synchronizer($"s3://{S3Server.Bucket}/{directory[..directory.IndexOf('/', StringComparison.Ordinal)]}/team-a/");

        var status = await synchronizer.SyncAsync(Namespace, spec, null, 1, default);

        Assert.Equal(ArtifactPhase.Ready, status.Phase);
        var variant = Assert.Single(status.Variants!).Uri;
        var variantKey = $"{Prefix}{directory.TrimEnd('/')}.torchferry-cpu/";
        Assert.Equal($"s3://{S3Server.Bucket}/{variantKey}", variant);
        Assert.True(await s3.ExistsAsync(variantKey.TrimEnd('/') + ".json"));
        var local = folder.File("part-1.pt");
        await s3.GetFileAsync(variantKey + "part-1.pt", local);
        Assert.Empty(torch.Torch.Compare("checkpoint_dict", local).Problems);

        await synchronizer.CleanupAsync(Namespace, spec, status, default);

        Assert.False(await s3.ExistsAsync(variantKey + "part-0.pt"));
        Assert.False(await s3.ExistsAsync(variantKey.TrimEnd('/') + ".json"));
        Assert.True(await s3.ExistsAsync(directory + "part-1.pt"));
    }

    [Fact]
    public async Task Sync_PrefixSetOnAnExistingArtifact_MovesItsVariant_LeavingNothingBesideTheSource()
    {
        var key = S3Fixture.UniqueKey("team-a/n0/ck.pt");
        await s3.PutFileAsync(key, torch.GpuFile("tensor"));
        var spec = new ArtifactSpec { Source = new ArtifactSource { Uri = $"s3://{S3Server.Bucket}/{key}", Format = FlyteBlobFormat.PyTorchTensor }, TargetDevices = ["cpu"] };
        var allowed = $"s3://{S3Server.Bucket}/{key[..key.IndexOf('/', StringComparison.Ordinal)]}/team-a/";
        var beside = await Synchronizer(allowed, VariantLayout.Beside).SyncAsync(Namespace, spec, null, 1, default);

        var moved = await Synchronizer(allowed).SyncAsync(Namespace, spec, beside, 1, default);

        Assert.Equal($"s3://{S3Server.Bucket}/{Prefix}{key[..^3]}.torchferry-cpu.pt", Assert.Single(moved.Variants!).Uri);
        Assert.False(await s3.ExistsAsync(StorageUri.Parse(beside.Variants![0].Uri).Key));
        Assert.True(await s3.ExistsAsync(key));
    }

    [Fact]
    public async Task Sync_AnotherNamespacesSource_IsRefused_EvenThoughItsVariantWouldLieUnderThePrefix()
    {
        var key = S3Fixture.UniqueKey("team-b/ck.pt");
        await s3.PutFileAsync(key, torch.GpuFile("tensor"));
        var spec = new ArtifactSpec { Source = new ArtifactSource { Uri = $"s3://{S3Server.Bucket}/{key}", Format = FlyteBlobFormat.PyTorchTensor }, TargetDevices = ["cpu"] };

        var status = await Synchronizer($"s3://{S3Server.Bucket}/{key[..key.IndexOf('/', StringComparison.Ordinal)]}/team-a/").SyncAsync(Namespace, spec, null, 1, default);

        Assert.Equal(ArtifactPhase.Failed, status.Phase);
        Assert.Equal("ForbiddenUri", status.Conditions!.Single(c => c.Type == "Ready").Reason);
        Assert.False(await s3.ExistsAsync(Prefix + key[..^3] + ".torchferry-cpu.pt"));
    }

    public void Dispose()
    {
        stores.Dispose();
        folder.Dispose();
    }

    private ArtifactSynchronizer Synchronizer(string allowed, VariantLayout? layout = null) => new(
        stores,
        new UriPolicy(new Dictionary<string, IReadOnlyList<string>> { [Namespace] = [allowed] }, layout ?? VariantLayout.Under(Prefix)),
        TimeProvider.System,
        new LoggerConfiguration().CreateLogger());
}
