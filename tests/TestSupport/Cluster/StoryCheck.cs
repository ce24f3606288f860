namespace TorchFerry.TestSupport.Cluster;

/// <summary>
/// What must have happened for the train → predict story to count as TorchFerry working: the
/// consumer pod was mutated (init container, inputs rewritten), the operator converted the
/// producer's checkpoint for the CPU, the init container pointed the inputs at the variants without
/// waiting out its timeout, and the consumer opened the variant (not the original) with a plain
/// torch.load on the CPU. Each missing step is one line saying which.
/// </summary>
public static class StoryCheck
{
    /// <summary>The init container's message when every PyTorch input points at a variant (src/Cli prepare-inputs).</summary>
    private const string AllVariants = "of 2 PyTorch inputs point at cpu variants";

    /// <param name="box">The sandbox the story ran in.</param>
    /// <param name="outcomes">train's and predict's outcomes.</param>
    /// <param name="checkpointPlural">Where the checkpoint is registered: checkpointartifacts, or tensorartifacts for a FlyteFile.</param>
    public static IReadOnlyList<string> Problems(ClusterInABox box, IReadOnlyList<NodeOutcome> outcomes, string checkpointPlural = "checkpointartifacts")
    {
        ArgumentNullException.ThrowIfNull(box);
        ArgumentNullException.ThrowIfNull(outcomes);
        var problems = new List<string>();
        if (outcomes.Count != 2 || !outcomes.All(o => o.Succeeded))
        {
            problems.Add("the workflow did not succeed: " + string.Join("; ", outcomes.Select(o => $"{o.Node} {(o.Succeeded ? "ok" : o.Error)}")));
            return problems;
        }

        var (train, predict) = (outcomes[0], outcomes[1]);
        var checkpoint = train.BlobUri("checkpoint");
        var ns = box.Options.Namespace;
        var trainLog = box.Kubelet.Logs(ns, train.Pod, train.Container);
        if (!trainLog.Contains("saved on cuda:0", StringComparison.Ordinal))
        {
            problems.Add($"train did not run on the GPU profile's GPU (its outputs are not tagged cuda:0): {trainLog}");
        }

        var admission = box.Api.Admissions.FirstOrDefault(a => a.Name == predict.Pod);
        if (admission is not { Outcome: "patched" } || admission.Patch!.ToJsonString().Contains("torchferry-inputs.pb", StringComparison.Ordinal) is false)
        {
            problems.Add($"predict's pod was not given the prepare-inputs step by the webhook ({admission?.Outcome ?? "no webhook call"})");
        }

        var artifact = box.Artifact(checkpointPlural, checkpoint);
        var variant = (artifact?["status"]?["variants"] as System.Text.Json.Nodes.JsonArray)?.FirstOrDefault(v => v?["device"]?.GetValue<string>() == "cpu")?["uri"]?.GetValue<string>();
        if (variant is null)
        {
            problems.Add($"the operator made no cpu variant of {checkpoint} ({artifact?["status"]?.ToJsonString() ?? "no CheckpointArtifact"})");
        }

        var initLog = box.Kubelet.Logs(ns, predict.Pod, "torchferry-prepare-inputs");
        if (!initLog.Contains(AllVariants, StringComparison.Ordinal))
        {
            problems.Add($"prepare-inputs did not point the inputs at cpu variants: {initLog.Trim()}");
        }

        var predictLog = box.Kubelet.Logs(ns, predict.Pod, predict.Container);
        var loaded = predictLog.Split('\n').FirstOrDefault(l => l.StartsWith("pyflyte-execute: input checkpoint loaded", StringComparison.Ordinal));
        if (loaded is null || variant is null || !loaded.Contains(variant, StringComparison.Ordinal) || !loaded.EndsWith("tensors on cpu", StringComparison.Ordinal))
        {
            problems.Add($"predict did not open the cpu variant {variant} with a plain torch.load: {loaded ?? predictLog.Trim()}");
        }

        return problems;
    }
}
