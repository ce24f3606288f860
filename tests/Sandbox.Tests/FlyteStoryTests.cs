using TorchFerry.TestSupport.Cluster;
using Xunit.Abstractions;

namespace TorchFerry.Sandbox.Tests;

/// <summary>
/// The story TorchFerry exists for, end to end through the real binaries: propeller's pods go
/// through the API server's admission chain (defaulting, the chart's webhook configuration calling
/// torchferry-webhook over TLS, validation, quota), the kubelet runs the init container (the published
/// torchferry) and the tasks (PyTorch), the operator converts what train saved on cuda:0.
/// One test at a time (one class): each starts its own cluster.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class FlyteStoryTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Budget = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task TrainOnGpu_PredictOnCpu_LoadsTheCpuVariantWithPlainTorchLoad_SecondsAfterTrain()
    {
        await using var box = await StartAsync(new SandboxOptions());

        var outcomes = await box.RunTrainPredictAsync();

        Assert.Empty(StoryCheck.Problems(box, outcomes));
        var trainDone = box.Timeline.When("propeller", "node n0 (train): succeeded")!.Value;
        var prepared = box.Timeline.When("kubelet", "init container torchferry-prepare-inputs exited 0")!.Value;
        Assert.True(prepared - trainDone < TimeSpan.FromSeconds(30), $"prepare-inputs finished {(prepared - trainDone).TotalSeconds:0.0} s after train, not within seconds:\n{box.Timeline}");
    }

    [Fact]
    public async Task TrainReturnsFlyteFilesOnGpu_PredictOnCpu_LoadsTheirCpuVariantsWithPlainTorchLoad()
    {
        await using var box = await StartAsync(new SandboxOptions { GpuProfileTask = "train_files" });

        var outcomes = await box.RunTrainPredictAsync(trainTask: "train_files");

        Assert.Empty(StoryCheck.Problems(box, outcomes, checkpointPlural: "tensorartifacts"));
        Assert.Equal("TorchFile", box.Artifact("tensorartifacts", outcomes[0].BlobUri("checkpoint"))!["spec"]!["source"]!["format"]!.GetValue<string>());
        Assert.Contains("2 of the inputs are files found to be torch.save archives", box.Kubelet.Logs(box.Options.Namespace, outcomes[1].Pod, "torchferry-prepare-inputs"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task VariantPrefix_OperatorWritesUnderIt_PrepareInputsFindsItThere_PredictLoadsItWithPlainTorchLoad()
    {
        // The chart's variants.prefix reaches both binaries: the operator writes there, and the webhook
        // tells prepare-inputs to look there (had it looked beside the source, it would have converted again).
        await using var box = await StartAsync(new SandboxOptions { VariantPrefix = "torchferry-variants/" });

        var outcomes = await box.RunTrainPredictAsync();

        Assert.Empty(StoryCheck.Problems(box, outcomes));
        var checkpoint = outcomes[0].BlobUri("checkpoint");
        var variant = box.Artifact("checkpointartifacts", checkpoint)!["status"]!["variants"]!.AsArray().Single(v => v!["device"]!.GetValue<string>() == "cpu")!["uri"]!.GetValue<string>();
        var under = $"s3://{TestSupport.S3Server.Bucket}/torchferry-variants/";
        Assert.StartsWith(under, variant, StringComparison.Ordinal);
        Assert.Equal(checkpoint[$"s3://{TestSupport.S3Server.Bucket}/".Length..], variant[under.Length..].Replace(".torchferry-cpu", string.Empty, StringComparison.Ordinal));
        Assert.DoesNotContain("converted here", box.Kubelet.Logs(box.Options.Namespace, outcomes[1].Pod, "torchferry-prepare-inputs"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task NamespaceDefault_PodWithoutAnnotations_IsAdmittedAndGetsItsInputsOnCpu()
    {
        var options = new SandboxOptions();
        await using var box = await StartAsync(options with { InputsDeviceNamespaces = new Dictionary<string, string> { [options.Namespace] = "cpu" } });

        var outcomes = await box.RunTrainPredictAsync(annotatePredict: false);

        Assert.Empty(StoryCheck.Problems(box, outcomes));
    }

    [Fact]
    public async Task PodTemplateTasksWithSidecars_OutputsRegisteredWhileTheSidecarRuns_AndThePrimaryGetsTheVariant()
    {
        await using var box = await StartAsync(new SandboxOptions());

        var outcomes = await box.RunTrainPredictAsync(predictShape: TaskShape.PodTemplateWithSidecar, trainShape: TaskShape.PodTemplateWithSidecar);

        Assert.Empty(StoryCheck.Problems(box, outcomes));
        Assert.Equal("primary", outcomes[1].Container);

        // Flyte decided train by its primary container; its pod runs on with the sidecar, and the operator registered its outputs.
        Assert.Equal("Running", box.Api.Get(string.Empty, "v1", "pods", box.Options.Namespace, outcomes[0].Pod)!["status"]!["phase"]!.GetValue<string>());
        var checkpoint = outcomes[0].BlobUri("checkpoint");
        await TestSupport.Poll.UntilAsync(() => box.Artifact("checkpointartifacts", checkpoint)?["spec"]?["producer"]?["node"]?.GetValue<string>() == "n0", TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100), () => box.Timeline.ToString());
    }

    [Fact]
    public async Task FastRegisteredTask_GetsTheVariant()
    {
        await using var box = await StartAsync(new SandboxOptions());

        var outcomes = await box.RunTrainPredictAsync(predictShape: TaskShape.FastRegistered);

        Assert.Empty(StoryCheck.Problems(box, outcomes));
    }

    [Fact]
    public async Task PodTemplateRunningAsRoot_InitContainerStillStarts()
    {
        // A pod-level runAsUser: 0 with the init container's runAsNonRoot would be refused by the kubelet, had it no user of its own.
        await using var box = await StartAsync(new SandboxOptions());

        var outcomes = await box.RunTrainPredictAsync(predictRunsAsRoot: true);

        Assert.Empty(StoryCheck.Problems(box, outcomes));
    }

    [Fact]
    public async Task GpuProfileWithAccelerator_OnPropellersDeviceLabel_TrainRunsOnTheMatchingNode()
    {
        await using var box = await StartAsync(new SandboxOptions
        {
            GpuProduct = "nvidia-tesla-a100",
            NodeLabels = new Dictionary<string, string> { ["k8s.amazonaws.com/accelerator"] = "nvidia-tesla-a100" },
        });

        var outcomes = await box.RunTrainPredictAsync();

        Assert.Empty(StoryCheck.Problems(box, outcomes));
    }

    [Fact]
    public async Task GpuProfileWithAccelerator_NoNodeHasIt_TrainIsNeverScheduled()
    {
        // The test world fails as a cluster does: the scheduler finds no node with the accelerator label.
        await using var box = await StartAsync(new SandboxOptions { GpuProduct = "nvidia-tesla-a100", NodeTimeout = TimeSpan.FromSeconds(10) });

        var outcomes = await box.RunTrainPredictAsync();

        Assert.False(Assert.Single(outcomes).Succeeded);
        Assert.NotNull(box.Timeline.When("scheduler", "didn't match Pod's node affinity"));
    }

    [Fact]
    public async Task TrainAlreadyAskingPropellerForAGpu_UnderAMigProfile_KeepsItsGpuAndRuns()
    {
        // The node has whole GPUs only: a MIG slice added on top would leave train unschedulable.
        await using var box = await StartAsync(new SandboxOptions { MigProfile = "1g.10gb" });

        var outcomes = await box.RunTrainPredictAsync(trainGpus: 1);

        Assert.Empty(StoryCheck.Problems(box, outcomes));
        var limits = box.Api.Get(string.Empty, "v1", "pods", box.Options.Namespace, outcomes[0].Pod)!["spec"]!["containers"]![0]!["resources"]!["limits"]!.AsObject();
        Assert.Equal(["nvidia.com/gpu"], limits.Select(kv => kv.Key).Where(k => k.StartsWith("nvidia.com/", StringComparison.Ordinal)));
        Assert.Contains("gpu-resource", box.Api.Get(string.Empty, "v1", "pods", box.Options.Namespace, outcomes[0].Pod)!["metadata"]!["annotations"]![Contract.Annotations.Conflicts]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MigProfile_OnANodeWithWholeGpusOnly_TrainIsNeverScheduled()
    {
        // The other side of the story above: the slice the webhook asks for has no capacity on this node.
        await using var box = await StartAsync(new SandboxOptions { MigProfile = "1g.10gb", NodeLabels = new Dictionary<string, string> { ["k8s.amazonaws.com/gpu-partition-size"] = "1g.10gb" }, NodeTimeout = TimeSpan.FromSeconds(8) });

        var outcomes = await box.RunTrainPredictAsync();

        Assert.False(Assert.Single(outcomes).Succeeded);
        Assert.NotNull(box.Timeline.When("scheduler", "Insufficient nvidia.com/mig-1g.10gb"));
    }

    [Fact]
    public async Task InterruptibleTrain_KeepsItsSpotTerm_WithTheAcceleratorAdded_AndRuns()
    {
        await using var box = await StartAsync(new SandboxOptions
        {
            GpuProduct = "nvidia-tesla-a100",
            NodeLabels = new Dictionary<string, string> { ["k8s.amazonaws.com/accelerator"] = "nvidia-tesla-a100", ["node-lifecycle"] = "spot" },
        });

        var outcomes = await box.RunTrainPredictAsync(trainInterruptible: true);

        Assert.Empty(StoryCheck.Problems(box, outcomes));
        var term = Assert.Single(box.Api.Get(string.Empty, "v1", "pods", box.Options.Namespace, outcomes[0].Pod)!["spec"]!["affinity"]!["nodeAffinity"]!["requiredDuringSchedulingIgnoredDuringExecution"]!["nodeSelectorTerms"]!.AsArray())!;
        Assert.Equal(["node-lifecycle", "k8s.amazonaws.com/accelerator"], term["matchExpressions"]!.AsArray().Select(e => e!["key"]!.GetValue<string>()));
    }

    [Fact]
    public async Task ComputeQuotaNamespace_EveryPodIsAdmittedAndRuns()
    {
        await using var box = await StartAsync(new SandboxOptions { ComputeQuota = true });

        var outcomes = await box.RunTrainPredictAsync();

        Assert.Empty(StoryCheck.Problems(box, outcomes));
    }

    [Fact]
    public async Task WebhookDown_FailurePolicyIgnore_PodsRunUnmutatedAndTheWorkflowSucceeds()
    {
        await using var box = await StartAsync(new SandboxOptions { Webhook = false });

        var outcomes = await box.RunTrainPredictAsync(predictTask: "predict_typed");

        Assert.True(outcomes.All(o => o.Succeeded), box.Timeline.ToString());
        Assert.All(box.Api.Admissions, a => Assert.StartsWith("ignored: failed calling webhook \"pods.torchferry.io\"", a.Outcome, StringComparison.Ordinal));
        Assert.Equal(2, box.Api.Admissions.Count);
        Assert.Null(box.Api.Get(string.Empty, "v1", "pods", box.Options.Namespace, outcomes[1].Pod)!["spec"]!["initContainers"]);
    }

    [Fact]
    public async Task OperatorStopped_PrepareInputsConvertsItself_AndPredictLoadsTheVariantWithPlainTorchLoad()
    {
        await using var box = await StartAsync(new SandboxOptions { Operator = false, PrepareInputsOperatorWaitSeconds = 1 });

        var outcomes = await box.RunTrainPredictAsync();

        Assert.True(outcomes.All(o => o.Succeeded), box.Timeline.ToString());
        var predict = outcomes[1];
        Assert.Contains("2 of 2 PyTorch inputs point at cpu variants (2 converted here)", box.Kubelet.Logs(box.Options.Namespace, predict.Pod, "torchferry-prepare-inputs"), StringComparison.Ordinal);
        Assert.Matches(@"input checkpoint loaded with a plain torch\.load from \S+\.torchferry-cpu: tensors on cpu", box.Kubelet.Logs(box.Options.Namespace, predict.Pod, predict.Container));
    }

    [Fact]
    public async Task OperatorStoppedAndConversionImpossible_PredictGetsTheOriginalInputsWithinTheTimeout()
    {
        // The tasks' role may not write variants (the store answers 403): prepare-inputs passes the originals on.
        await using var box = await StartAsync(new SandboxOptions { Operator = false, PrepareInputsOperatorWaitSeconds = 0, PrepareInputsTimeoutSeconds = 30, TasksMayNotWriteVariants = true });

        var outcomes = await box.RunTrainPredictAsync(predictTask: "predict_typed");

        Assert.True(outcomes.All(o => o.Succeeded), box.Timeline.ToString());
        var predict = outcomes[1];
        Assert.Contains("passing it on unchanged", box.Kubelet.Logs(box.Options.Namespace, predict.Pod, "torchferry-prepare-inputs"), StringComparison.Ordinal);
        var checkpoint = outcomes[0].BlobUri("checkpoint");
        Assert.Contains($"from {checkpoint}: tensors on cpu", box.Kubelet.Logs(box.Options.Namespace, predict.Pod, predict.Container), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(TaskShape.Container)]
    [InlineData(TaskShape.LegacyMap)]
    public async Task MapTask_EachSubtaskGetsOnlyItsOwnItemConverted_AndLoadsItWithPlainTorchLoad(TaskShape shape)
    {
        // ArrayNode subtasks write under <out>/<index>/<attempt>; legacy ones (pyflyte-map-execute) share one output prefix.
        await using var box = await StartAsync(new SandboxOptions { GpuProfileTask = "train_many" });

        var outcomes = await box.Propeller.RunAsync(box.Options.Project, box.Options.Domain, "workflows.sandbox.map", [
            new WorkflowNode("n0", "train_many") { Integers = new Dictionary<string, long> { ["count"] = 3 } },
            new WorkflowNode("n1", "predict_item")
            {
                MapSize = 3,
                Shape = shape,
                Bindings = new Dictionary<string, string> { ["models"] = "n0.models" },
                Annotations = new Dictionary<string, string> { [Contract.Annotations.InputsDevice] = "cpu" },
            },
        ], CancellationToken.None);

        Assert.True(outcomes.Count == 4 && outcomes.All(o => o.Succeeded), box.Timeline.ToString());
        foreach (var subtask in outcomes.Skip(1))
        {
            Assert.Contains("1 of 1 PyTorch inputs point at cpu variants", box.Kubelet.Logs(box.Options.Namespace, subtask.Pod, "torchferry-prepare-inputs"), StringComparison.Ordinal);
            Assert.Matches(@"input models loaded with a plain torch\.load from \S+\.torchferry-cpu: tensors on cpu", box.Kubelet.Logs(box.Options.Namespace, subtask.Pod, subtask.Container));
        }

        // Each subtask reads a prepared map of its own, even where they share an output prefix.
        var prepared = outcomes.Skip(1).Select(o => box.Api.Get(string.Empty, "v1", "pods", box.Options.Namespace, o.Pod)!["spec"]!["containers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList()).Select(a => a[a.IndexOf("--inputs") + 1]).ToList();
        Assert.Equal(3, prepared.Distinct().Count());
        Assert.All(prepared.Select((uri, i) => (uri, i)), p => Assert.EndsWith($"/torchferry-inputs-{p.i}.pb", p.uri, StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithoutTorchFerry_PlainTorchLoadOfTrainsOutputFailsOnTheCpu()
    {
        // The failure TorchFerry exists to remove, shown by the same cluster with the webhook down.
        await using var box = await StartAsync(new SandboxOptions { Webhook = false, GpuProfileTask = null });

        var outcomes = await box.Propeller.RunAsync(box.Options.Project, box.Options.Domain, "workflows.sandbox.train_predict", [
            new WorkflowNode("n0", "train") { Gpus = 1 },
            new WorkflowNode("n1", "predict") { Bindings = new Dictionary<string, string> { ["checkpoint"] = "n0.checkpoint", ["weights"] = "n0.weights" } },
        ], CancellationToken.None);

        Assert.True(outcomes[0].Succeeded, box.Timeline.ToString());
        Assert.False(outcomes[1].Succeeded);
        Assert.Contains("Attempting to deserialize object on a CUDA device", outcomes[1].Error, StringComparison.Ordinal);
    }

    private async Task<ClusterInABox> StartAsync(SandboxOptions options)
    {
        var timeline = new Timeline { Written = line => output.WriteLine(line) };
        using var cancel = new CancellationTokenSource(Budget);
        return await ClusterInABox.StartAsync(options, timeline, cancel.Token);
    }
}
