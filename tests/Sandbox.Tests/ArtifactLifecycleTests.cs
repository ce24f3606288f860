using System.Text.Json.Nodes;
using Amazon.S3;
using Amazon.S3.Model;
using TorchFerry.TestSupport;
using TorchFerry.TestSupport.Cluster;
using Xunit.Abstractions;

namespace TorchFerry.Sandbox.Tests;

/// <summary>
/// Artifacts live as long as the executions that use them: the operator makes each registered
/// artifact a dependent of its execution's flyteworkflow, so when propeller's garbage collection
/// deletes the workflow, Kubernetes' collector (the emulator's, background propagation) deletes the
/// artifacts and the operator's finalizer their variants, through the real binaries.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class ArtifactLifecycleTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Budget = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task WorkflowGarbageCollected_ItsArtifactsAndVariantsGo_SourcesStay_AHandMadeArtifactStays()
    {
        var timeline = new Timeline { Written = line => output.WriteLine(line) };
        using var cancel = new CancellationTokenSource(Budget);
        await using var box = await ClusterInABox.StartAsync(new SandboxOptions(), timeline, cancel.Token);
        using var s3 = S3Server.CreateClient(box.S3.Endpoint);
        var ns = box.Options.Namespace;

        // A hand-made artifact of a blob outside any execution.
        var handMadeSource = $"s3://{S3Server.Bucket}/curated/checkpoint-cuda.pt";
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = S3Server.Bucket, Key = "curated/checkpoint-cuda.pt", FilePath = Path.Combine(RepositoryPaths.Root, "samples", "checkpoint-cuda.pt"), UseChunkEncoding = false }, cancel.Token);
        box.Api.CreateObject("torchferry.io", "v1alpha1", "checkpointartifacts", ns, new JsonObject
        {
            ["apiVersion"] = "torchferry.io/v1alpha1",
            ["kind"] = "CheckpointArtifact",
            ["metadata"] = new JsonObject { ["name"] = "curated", ["namespace"] = ns },
            ["spec"] = new JsonObject { ["source"] = new JsonObject { ["uri"] = handMadeSource, ["format"] = "PyTorchCheckpoint" }, ["targetDevices"] = new JsonArray("cpu") },
        });

        var outcomes = await box.RunTrainPredictAsync(cancellationToken: cancel.Token);
        Assert.Empty(StoryCheck.Problems(box, outcomes));
        var checkpoint = outcomes[0].BlobUri("checkpoint");
        var weights = outcomes[0].BlobUri("weights");
        var execution = box.Api.Get(string.Empty, "v1", "pods", ns, outcomes[0].Pod)!["metadata"]!["labels"]!["execution-id"]!.GetValue<string>();
        var owned = box.Artifact("checkpointartifacts", checkpoint)!;
        var owner = Assert.Single(owned["metadata"]!["ownerReferences"]!.AsArray())!;
        Assert.Equal(FlytePropeller.WorkflowKind, owner["kind"]!.GetValue<string>());
        Assert.Equal(execution, owner["name"]!.GetValue<string>());
        Assert.Null(owner["blockOwnerDeletion"]);
        var variants = new[] { VariantOf(owned), VariantOf(box.Artifact("tensorartifacts", weights)!) };
        await Poll.UntilAsync(() => box.Artifact("checkpointartifacts", handMadeSource)?["status"]?["phase"]?.GetValue<string>() == "Ready", TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200));
        var handMadeVariant = VariantOf(box.Artifact("checkpointartifacts", handMadeSource)!);
        Assert.All([.. variants, handMadeVariant], v => Assert.True(Exists(s3, v), $"{v} is missing before the workflow is collected"));

        // Propeller's GC deletes the finished workflow.
        await box.Propeller.DeleteWorkflowAsync(ns, execution, cancel.Token);

        await Poll.UntilAsync(() => box.Artifact("checkpointartifacts", checkpoint) is null && box.Artifact("tensorartifacts", weights) is null, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(200), () => string.Join("\n", box.Api.Collected));
        Assert.All(variants, v => Assert.False(Exists(s3, v), $"{v} was left in the bucket"));
        Assert.All(new[] { checkpoint, weights }, s => Assert.True(Exists(s3, s), $"the source {s} was removed"));
        Assert.Contains(box.Api.Collected, c => c.StartsWith("pods ", StringComparison.Ordinal) && c.EndsWith(outcomes[0].Pod, StringComparison.Ordinal));
        Assert.NotNull(box.Artifact("checkpointartifacts", handMadeSource));
        Assert.True(Exists(s3, handMadeVariant), "the hand-made artifact's variant was removed");
    }

    private static string VariantOf(JsonObject artifact) =>
        artifact["status"]!["variants"]!.AsArray().Single(v => v!["device"]!.GetValue<string>() == "cpu")!["uri"]!.GetValue<string>();

    private static bool Exists(AmazonS3Client s3, string uri)
    {
        var key = uri[$"s3://{S3Server.Bucket}/".Length..];
        try
        {
            s3.GetObjectMetadataAsync(S3Server.Bucket, key).GetAwaiter().GetResult();
            return true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
    }
}
