using Microsoft.Extensions.Time.Testing;
using Serilog;
using TorchFerry.Contract;
using TorchFerry.Crds;
using TorchFerry.Operator.Artifacts;
using TorchFerry.Storage;
using TorchFerry.TestSupport;

namespace TorchFerry.Operator.Tests.Artifacts;

[Collection(TorchCollection.Name)]
public sealed class ArtifactSynchronizerTests : IDisposable
{
    private const string Namespace = "flytesnacks-development";
    private readonly TorchFixtures torch;
    private readonly TemporaryDirectory folder = new();
    private readonly FakeTimeProvider time = new(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
    private readonly ObjectStoreRouter stores = new(log: new LoggerConfiguration().CreateLogger(), durableLocalWrites: false);
    private readonly ArtifactSynchronizer synchronizer;

    public ArtifactSynchronizerTests(TorchFixtures torch)
    {
        this.torch = torch;
        var policy = new UriPolicy(new Dictionary<string, IReadOnlyList<string>> { [Namespace] = [$"file://{folder.Path}/"] });
        synchronizer = new ArtifactSynchronizer(stores, policy, time, new LoggerConfiguration().CreateLogger());
    }

    [Fact]
    public async Task Sync_GpuCheckpoint_InspectsAndConvertsAVariantTorchLoadsOnCpu()
    {
        var spec = Spec(Copy("checkpoint_dict"), "cpu");

        var status = await synchronizer.SyncAsync(Namespace, spec, null, generation: 3, default);

        Assert.Equal(ArtifactPhase.Ready, status.Phase);
        Assert.Equal(3, status.ObservedGeneration);
        Assert.Equal(["cuda:0"], status.Source!.Devices);
        Assert.Equal("checkpoint", status.Source.Kind);
        Assert.Equal(10L, status.Source.Hyperparameters!["epochs"]!.GetValue<long>());
        var variant = Assert.Single(status.Variants!);
        Assert.Equal(("cpu", status.Source.ETag), (variant.Device, variant.SourceETag));
        Assert.EndsWith(".torchferry-cpu.pt", variant.Uri, StringComparison.Ordinal);
        Assert.Empty(torch.Torch.Compare("checkpoint_dict", StorageUri.Parse(variant.Uri).Key).Problems);
        Assert.All(status.Conditions!, c => Assert.Equal((ConditionStatus.True, 3L), (c.Status, c.ObservedGeneration)));
        Assert.Equal(["Inspected", "Ready"], status.Conditions!.Select(c => c.Type));
    }

    [Fact]
    public async Task Sync_CheckpointHoldingUserObjects_StatusNamesWhatStopsAWeightsOnlyLoad()
    {
        var held = await synchronizer.SyncAsync(Namespace, Spec(Copy("checkpoint_held"), "cpu"), null, 1, default);
        var plain = await synchronizer.SyncAsync(Namespace, Spec(Copy("tensor"), "cpu"), null, 1, default);

        Assert.Equal(("2.6", false), (held.Source!.WeightsOnly!.Torch, held.Source.WeightsOnly.Loads));
        Assert.Equal(
            ["torchferry_fixture_models.AttrDict", "torchferry_fixture_models.Empty", "torchferry_fixture_models.Schedule", "torchferry_fixture_models.Settings", "torchferry_fixture_models.TagList"],
            held.Source.WeightsOnly.BlockedBy);
        Assert.Equal((true, 0), (plain.Source!.WeightsOnly!.Loads!.Value, plain.Source.WeightsOnly.BlockedBy!.Count));
        Assert.Null(torch.Torch.LoadError(StorageUri.Parse(plain.Variants![0].Uri).Key, weightsOnly: true));
    }

    [Fact]
    public async Task Sync_WeightsOnlyAsked_VariantLoadsWithTorchsWeightsOnlyLoader_ChangesRecorded_AndIsRemadeWhenTheAskChanges()
    {
        var spec = Spec(Copy("checkpoint_held"), "cpu") with { WeightsOnly = true };

        var status = await synchronizer.SyncAsync(Namespace, spec, null, 1, default);

        Assert.Equal(ArtifactPhase.Ready, status.Phase);
        var variant = Assert.Single(status.Variants!);
        Assert.Contains("torchferry_fixture_models.Settings → dict (1 object)", variant.WeightsOnlyChanges!);
        Assert.Null(torch.Torch.LoadError(StorageUri.Parse(variant.Uri).Key, weightsOnly: true));
        Assert.Empty(torch.Torch.Compare("checkpoint_held", StorageUri.Parse(variant.Uri).Key, weightsOnly: true, plain: true).Problems);

        var plain = await synchronizer.SyncAsync(Namespace, spec with { WeightsOnly = null }, status, 2, default);

        Assert.Null(Assert.Single(plain.Variants!).WeightsOnlyChanges);
        Assert.NotNull(torch.Torch.LoadError(StorageUri.Parse(plain.Variants![0].Uri).Key, weightsOnly: true));
    }

    [Fact]
    public async Task Sync_WeightsOnlyAskedOfAWholeModule_FailsWithTheReason()
    {
        var spec = new ArtifactSpec { Source = new ArtifactSource { Uri = "file://" + Copy("module"), Format = FlyteBlobFormat.PyTorchModule }, TargetDevices = ["cpu"], WeightsOnly = true };

        var status = await synchronizer.SyncAsync(Namespace, spec, null, 1, default);

        Assert.Equal(ArtifactPhase.Failed, status.Phase);
        var ready = Assert.Single(status.Conditions!, c => c.Type == ConditionReasons.ReadyType);
        Assert.Equal(ConditionReasons.UnsupportedContent, ready.Reason);
        Assert.Contains("a whole torch.nn.Module (torchferry_fixture_models.Net)", ready.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sync_VariantInPlaceButNotInStatus_IsAdoptedNotConvertedAgain()
    {
        // The conversion finished while the API server was away: its status write was lost.
        var spec = Spec(Copy("checkpoint_dict"), "cpu");
        var first = await synchronizer.SyncAsync(Namespace, spec, null, 1, default);
        var variant = StorageUri.Parse(first.Variants![0].Uri).Key;
        var written = File.GetLastWriteTimeUtc(variant);
        time.Advance(TimeSpan.FromMinutes(1));

        var again = await synchronizer.SyncAsync(Namespace, spec, null, 1, default);

        Assert.Equal(first.Variants[0].Uri, Assert.Single(again.Variants!).Uri);
        Assert.Equal((0L, first.Variants[0].ETag), (again.Variants![0].BytesMoved, again.Variants[0].ETag));
        Assert.Equal(written, File.GetLastWriteTimeUtc(variant));

        // One made another way (weights-only, asked now not) is not adopted: it is made again.
        var held = Spec(Copy("checkpoint_held"), "cpu");
        var weightsOnly = await synchronizer.SyncAsync(Namespace, held with { WeightsOnly = true }, null, 1, default);
        var plain = await synchronizer.SyncAsync(Namespace, held, null, 1, default);
        Assert.NotNull(weightsOnly.Variants![0].WeightsOnlyChanges);
        Assert.True(plain.Variants![0].BytesMoved > 0, "the weights-only variant was replaced by a plain one");
        Assert.NotNull(torch.Torch.LoadError(StorageUri.Parse(plain.Variants[0].Uri).Key, weightsOnly: true));
    }

    [Fact]
    public async Task Sync_Again_ReusesTheVariantWhileTheSourceIsUnchanged()
    {
        var spec = Spec(Copy("checkpoint_dict"), "cpu");
        var first = await synchronizer.SyncAsync(Namespace, spec, null, 1, default);
        time.Advance(TimeSpan.FromMinutes(5));

        var second = await synchronizer.SyncAsync(Namespace, spec, first, 1, default);

        Assert.Equal(first.Variants![0], second.Variants![0]);
        Assert.Equal(first.Conditions![1].LastTransitionTime, second.Conditions![1].LastTransitionTime);
    }

    [Fact]
    public async Task Sync_SourceReplaced_ReconvertsFromTheNewSource()
    {
        var source = Copy("checkpoint_dict");
        var spec = Spec(source, "cpu");
        var first = await synchronizer.SyncAsync(Namespace, spec, null, 1, default);
        File.Copy(torch.GpuFile("tensor"), source, overwrite: true);
        File.SetLastWriteTimeUtc(source, DateTime.UtcNow.AddMinutes(1));
        time.Advance(TimeSpan.FromMinutes(1));

        var second = await synchronizer.SyncAsync(Namespace, spec, first, 1, default);

        Assert.NotEqual(first.Source!.ETag, second.Source!.ETag);
        Assert.Equal(second.Source.ETag, second.Variants![0].SourceETag);
        Assert.Equal("tensor", second.Source.Kind);
        Assert.Empty(torch.Torch.Compare("tensor", StorageUri.Parse(second.Variants[0].Uri).Key).Problems);
    }

    [Fact]
    public async Task Sync_UriOutsideTheAllowedPrefixes_IsRefusedAndNothingIsTouched()
    {
        using var elsewhere = new TemporaryDirectory();
        var outside = Path.Combine(elsewhere.Path, "ck.pt");
        File.Copy(torch.GpuFile("checkpoint_dict"), outside);

        var status = await synchronizer.SyncAsync(Namespace, Spec(outside, "cpu"), null, 2, default);

        Assert.Equal(ArtifactPhase.Failed, status.Phase);
        var ready = status.Conditions!.Single(c => c.Type == "Ready");
        Assert.Equal((ConditionStatus.False, "ForbiddenUri"), (ready.Status, ready.Reason));
        Assert.Contains("outside the prefixes", ready.Message, StringComparison.Ordinal);
        Assert.Equal(["ck.pt"], Directory.GetFiles(elsewhere.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Sync_TargetRemoved_DeletesItsVariant_AndCleanupNeverDeletesTheSource()
    {
        var source = Copy("module");
        var both = await synchronizer.SyncAsync(Namespace, Spec(source, "cpu", "cuda:1"), null, 1, default);
        Assert.Equal(2, both.Variants!.Count);
        var cuda = StorageUri.Parse(both.Variants.Single(v => v.Device == "cuda:1").Uri).Key;
        Assert.True(File.Exists(cuda));

        var onlyCpu = await synchronizer.SyncAsync(Namespace, Spec(source, "cpu"), both, 2, default);
        Assert.False(File.Exists(cuda));
        Assert.Single(onlyCpu.Variants!);

        await synchronizer.CleanupAsync(Namespace, Spec(source, "cpu"), onlyCpu, default);
        Assert.Equal([Path.GetFileName(source)], Directory.GetFiles(folder.Path).Select(Path.GetFileName));
    }

    [Fact]
    public async Task Cleanup_RetainPolicy_KeepsVariants()
    {
        var source = Copy("tensor");
        var spec = Spec(source, "cpu") with { VariantDeletionPolicy = VariantDeletionPolicy.Retain };
        var status = await synchronizer.SyncAsync(Namespace, spec, null, 1, default);

        await synchronizer.CleanupAsync(Namespace, spec, status, default);

        Assert.True(File.Exists(StorageUri.Parse(status.Variants![0].Uri).Key));
    }

    public void Dispose()
    {
        stores.Dispose();
        folder.Dispose();
    }

    private string Copy(string fixtureCase)
    {
        var path = folder.File($"{fixtureCase}-{Guid.NewGuid():N}.pt");
        File.Copy(torch.GpuFile(fixtureCase), path);
        return path;
    }

    private static ArtifactSpec Spec(string path, params string[] devices) => new()
    {
        Source = new ArtifactSource { Uri = "file://" + path, Format = FlyteBlobFormat.PyTorchCheckpoint },
        TargetDevices = devices,
    };
}
