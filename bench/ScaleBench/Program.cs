using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using TorchFerry.Contract;
using TorchFerry.TestSupport;
using TorchFerry.TestSupport.Kubernetes;

// scalebench PODS ARTIFACTS SOURCE_FILE OPERATOR_BINARY
//
// A Flyte cluster's day against the API server emulator (in this process), with the operator as its
// own process (the measured one): ARTIFACTS executions, each a flyteworkflow with a GPU task whose
// outputs.pb names its checkpoint and a pending CPU task consuming it; the rest of PODS are other
// Flyte task pods of those executions (propeller's size, with env and args) that succeed and are
// deleted. Reports the time until every artifact is Ready with its cpu variant, the operator's API
// requests per artifact and its peak RSS; then deletes every flyteworkflow (as propeller's GC does)
// and reports the time until the garbage collector and the operator have removed every artifact,
// the variants left on disk and the operator's RSS after.
if (args is not [var podsText, var artifactsText, var sourceFile, var operatorBinary])
{
    Console.Error.WriteLine("usage: scalebench PODS ARTIFACTS SOURCE_FILE OPERATOR_BINARY");
    return 2;
}

var totalPods = int.Parse(podsText, CultureInfo.InvariantCulture);
var executions = int.Parse(artifactsText, CultureInfo.InvariantCulture);
var fillersPerExecution = Math.Max(0, (totalPods - (2 * executions)) / executions);
const string Namespace = "flytesnacks-development";
const string Group = "torchferry.io";
const string Version = "v1alpha1";
using var folder = new TemporaryDirectory();
await using var api = new KubeApiEmulator { HistoryLimit = 5_000 };
TorchFerryCrds.Install(api);
api.Register("flyte.lyft.com", "v1alpha1", "flyteworkflows", "flyteworkflow", statusSubresource: false);

var kubeconfig = folder.File("kubeconfig");
await File.WriteAllTextAsync(kubeconfig, $"""
    apiVersion: v1
    kind: Config
    clusters: [{"{"}name: bench, cluster: {"{"}server: "{api.Endpoint}"{"}"}{"}"}]
    users: [{"{"}name: operator, user: {"{"}token: operator{"}"}{"}"}]
    contexts: [{"{"}name: bench, context: {"{"}cluster: bench, user: operator{"}"}{"}"}]
    current-context: bench
    """);
var prefixes = folder.File("allowed-prefixes.json");
await File.WriteAllTextAsync(prefixes, new JsonObject { [Namespace] = new JsonArray($"file://{folder.Path}/") }.ToJsonString());

// Other tasks' outputs: one integer, no blob.
var plain = Path.Combine(folder.Path, "plain");
Directory.CreateDirectory(plain);
await File.WriteAllBytesAsync(Path.Combine(plain, "outputs.pb"), FlyteIdl.Encode(new JsonObject { ["literals"] = new JsonObject { ["n"] = new JsonObject { ["scalar"] = new JsonObject { ["primitive"] = new JsonObject { ["integer"] = 1 } } } } }));

var operatorStart = new ProcessStartInfo(operatorBinary, ["--kubeconfig", kubeconfig, "--no-leader-election", "--allowed-prefixes", prefixes, "--http-address", "http://127.0.0.1:0", "--workers", "4", "--watch-namespace", Namespace])
{
    RedirectStandardOutput = true,
    RedirectStandardError = true,
};
// The operator runs with the environment the chart gives it (its GC settings), as in a cluster.
foreach (var (name, value) in Helm.Template("torchferry", "torchferry-system").Environment("operator"))
{
    operatorStart.Environment[name] = value;
}

// SCALEBENCH_OPERATOR_ENV="NAME=value ...": more of the operator's environment (a container's memory limit, say).
foreach (var setting in (Environment.GetEnvironmentVariable("SCALEBENCH_OPERATOR_ENV") ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries))
{
    operatorStart.Environment[setting.Split('=', 2)[0]] = setting.Split('=', 2)[1];
}

using var operatorProcess = Process.Start(operatorStart)!;
var logLines = 0L;
_ = Task.Run(async () =>
{
    while (await operatorProcess.StandardOutput.ReadLineAsync() is not null)
    {
        Interlocked.Increment(ref logLines);
    }
});
_ = Task.Run(() => operatorProcess.StandardError.ReadToEndAsync());

// Flyte's own encoder runs in Node, a process per call: each map is encoded once, for e000000, and
// given to every execution with its name put in (the same length, so every protobuf length holds).
var templateBlob = FlyteIdl.BlobLiteral("PyTorchCheckpoint", $"file://{Path.Combine(folder.Path, "e000000", "n0", "ck.pt")}");
var outputsTemplate = FlyteIdl.Encode(new JsonObject { ["literals"] = new JsonObject { ["o0"] = templateBlob.DeepClone() } });
var inputsTemplate = FlyteIdl.Encode(new JsonObject { ["literals"] = new JsonObject { ["model"] = templateBlob.DeepClone() } });
static byte[] For(byte[] template, string execution)
{
    var bytes = (byte[])template.Clone();
    var from = "e000000"u8.ToArray();
    var to = System.Text.Encoding.ASCII.GetBytes(execution);
    for (var at = bytes.AsSpan().IndexOf(from); at >= 0;)
    {
        to.CopyTo(bytes, at);
        var next = bytes.AsSpan(at + from.Length).IndexOf(from);
        at = next < 0 ? -1 : at + from.Length + next;
    }

    return bytes;
}

using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Endpoint.ToString(), AccessToken = "bench" });
var watch = Stopwatch.StartNew();
var created = 0;
await Parallel.ForEachAsync(Enumerable.Range(0, executions), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, token) =>
{
    var execution = $"e{i:D6}";
    var workflow = api.CreateObject("flyte.lyft.com", "v1alpha1", "flyteworkflows", Namespace, new JsonObject
    {
        ["apiVersion"] = "flyte.lyft.com/v1alpha1",
        ["kind"] = "flyteworkflow",
        ["metadata"] = new JsonObject { ["name"] = execution, ["namespace"] = Namespace },
    });
    var owner = new V1OwnerReference { ApiVersion = "flyte.lyft.com/v1alpha1", Kind = "flyteworkflow", Name = execution, Uid = workflow["metadata"]!["uid"]!.GetValue<string>(), Controller = true, BlockOwnerDeletion = true };

    // The GPU task: its checkpoint and outputs.pb.
    var train = Path.Combine(folder.Path, execution, "n0");
    Directory.CreateDirectory(train);
    var checkpoint = Path.Combine(train, "ck.pt");
    File.Copy(sourceFile, checkpoint);
    await File.WriteAllBytesAsync(Path.Combine(train, "outputs.pb"), For(outputsTemplate, execution), token);
    await CreatePodAsync(client, Pod(execution, "n0", owner, $"file://{train}/inputs.pb", $"file://{train}", null), succeeded: true, token);

    // Other tasks of the execution: succeed and go.
    for (var f = 0; f < fillersPerExecution; f++)
    {
        var pod = await CreatePodAsync(client, Pod(execution, $"n{f + 2}", owner, $"file://{plain}/inputs.pb", $"file://{plain}", null), succeeded: true, token);
        await client.CoreV1.DeleteNamespacedPodAsync(pod, Namespace, cancellationToken: token);
    }

    // The CPU task that consumes the checkpoint, pending as the webhook leaves it.
    var eval = Path.Combine(folder.Path, execution, "n1");
    Directory.CreateDirectory(eval);
    await File.WriteAllBytesAsync(Path.Combine(eval, "inputs.pb"), For(inputsTemplate, execution), token);
    await CreatePodAsync(client, Pod(execution, "n1", owner, $"file://{eval}/0/torchferry-inputs.pb", $"file://{eval}/0", new Dictionary<string, string> { [Annotations.TargetDevice] = "cpu", [Annotations.InputsSource] = $"file://{eval}/inputs.pb" }), succeeded: false, token);
    Interlocked.Increment(ref created);
});
var createdIn = watch.Elapsed;

static bool ReadyWithVariant(JsonObject o) =>
    o["status"]?["phase"]?.GetValue<string>() == "Ready" && o["status"]?["variants"] is JsonArray { Count: 1 };
while (api.Count(Group, Version, "checkpointartifacts", ReadyWithVariant) < executions)
{
    if (watch.Elapsed > TimeSpan.FromMinutes(30) || operatorProcess.HasExited)
    {
        Console.Error.WriteLine($"only {api.Count(Group, Version, "checkpointartifacts", ReadyWithVariant)} of {executions} ready after {watch.Elapsed.TotalSeconds:F0} s (operator exited: {operatorProcess.HasExited})");
        return 1;
    }

    await Task.Delay(500);
}

var readyIn = watch.Elapsed;
if (Environment.GetEnvironmentVariable("SCALEBENCH_GCDUMP") is { Length: > 0 } dump)
{
    // What the operator's heap holds at Ready, for dotnet-gcdump report (not part of the timings).
    using var collect = Process.Start("dotnet-gcdump", ["collect", "-p", operatorProcess.Id.ToString(CultureInfo.InvariantCulture), "-o", dump])!;
    await collect.WaitForExitAsync();
}

var requests = api.Calls.Count(c => c.User == "operator");
var peakReady = Status(operatorProcess.Id, "VmHWM:");

// Propeller's garbage collection deletes every finished workflow.
var gc = Stopwatch.StartNew();
await Parallel.ForEachAsync(Enumerable.Range(0, executions), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, token) =>
    await client.CustomObjects.DeleteNamespacedCustomObjectAsync("flyte.lyft.com", "v1alpha1", Namespace, "flyteworkflows", $"e{i:D6}", cancellationToken: token));
while (api.Count(Group, Version, "checkpointartifacts", _ => true) > 0)
{
    if (gc.Elapsed > TimeSpan.FromMinutes(30) || operatorProcess.HasExited)
    {
        Console.Error.WriteLine($"{api.Count(Group, Version, "checkpointartifacts", _ => true)} artifacts left after {gc.Elapsed.TotalSeconds:F0} s");
        return 1;
    }

    await Task.Delay(500);
}

var gcIn = gc.Elapsed;
var variantsLeft = Directory.EnumerateFiles(folder.Path, "*.torchferry-*", SearchOption.AllDirectories).Count();
var sourcesLeft = Directory.EnumerateFiles(folder.Path, "ck.pt", SearchOption.AllDirectories).Count();
var podsLeft = api.Count(string.Empty, "v1", "pods", _ => true);
await Task.Delay(TimeSpan.FromSeconds(5)); // the caches drop what was deleted
var rssAfter = Status(operatorProcess.Id, "VmRSS:");
var peak = Status(operatorProcess.Id, "VmHWM:");
operatorProcess.Kill();
await operatorProcess.WaitForExitAsync();
var podsSeen = executions * (2 + fillersPerExecution);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{podsSeen}|{executions}|{createdIn.TotalSeconds:F1}|{readyIn.TotalSeconds:F1}|{(double)requests / executions:F1}|{peakReady / 1024}|{peak / 1024}|{gcIn.TotalSeconds:F1}|{variantsLeft}|{sourcesLeft}|{podsLeft}|{rssAfter / 1024}"));
return 0;

static long Status(int pid, string field) =>
    long.Parse(File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith(field, StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

static async Task<string> CreatePodAsync(Kubernetes client, V1Pod pod, bool succeeded, CancellationToken token)
{
    var made = await client.CoreV1.CreateNamespacedPodAsync(pod, Namespace, cancellationToken: token);
    if (succeeded)
    {
        made.Status = new V1PodStatus { Phase = "Succeeded" };
        await client.CoreV1.ReplaceNamespacedPodStatusAsync(made, made.Metadata.Name, Namespace, cancellationToken: token);
    }

    return made.Metadata.Name;
}

// A task pod as propeller makes it (../shared/reference/flyte.md): labels, owner, pyflyte-execute's
// arguments, the FLYTE_INTERNAL_* environment and the settings a platform adds (about 6 KiB).
static V1Pod Pod(string execution, string node, V1OwnerReference owner, string inputs, string outputPrefix, Dictionary<string, string>? annotations)
{
    var name = $"{execution}-{node}-0";
    var env = new List<V1EnvVar>
    {
        new() { Name = "FLYTE_INTERNAL_EXECUTION_ID", Value = execution },
        new() { Name = "FLYTE_INTERNAL_EXECUTION_PROJECT", Value = "flytesnacks" },
        new() { Name = "FLYTE_INTERNAL_EXECUTION_DOMAIN", Value = "development" },
        new() { Name = "FLYTE_INTERNAL_EXECUTION_WORKFLOW", Value = "workflows.train_predict" },
        new() { Name = "FLYTE_ATTEMPT_NUMBER", Value = "0" },
    };
    env.AddRange(Enumerable.Range(0, 40).Select(i => new V1EnvVar { Name = $"PLATFORM_SETTING_{i}", Value = new string('x', 80) }));
    return new V1Pod
    {
        Metadata = new V1ObjectMeta
        {
            Name = name,
            NamespaceProperty = Namespace,
            Labels = new Dictionary<string, string> { ["execution-id"] = execution, ["node-id"] = node, ["task-name"] = $"workflows-{node}", ["project"] = "flytesnacks", ["domain"] = "development", ["interruptible"] = "false", ["shard-key"] = "21" },
            Annotations = new Dictionary<string, string>(annotations ?? []) { ["cluster-autoscaler.kubernetes.io/safe-to-evict"] = "false", ["primary_container_name"] = name },
            OwnerReferences = [owner],
        },
        Spec = new V1PodSpec
        {
            RestartPolicy = "Never",
            Affinity = new V1Affinity(),
            Containers =
            [
                new V1Container
                {
                    Name = name,
                    Image = "cr.flyte.org/flyteorg/flytekit:py3.11-1.16.5",
                    Args = ["pyflyte-execute", "--inputs", inputs, "--output-prefix", outputPrefix, "--raw-output-data-prefix", $"{outputPrefix}/raw", "--checkpoint-path", $"{outputPrefix}/_flytecheckpoints", "--prev-checkpoint", "\"\"", "--resolver", "flytekit.core.python_auto_container.default_task_resolver", "--", "task-module", "workflows", "task-name", node],
                    Env = env,
                    Resources = new V1ResourceRequirements { Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new("1"), ["memory"] = new("2Gi") }, Limits = new Dictionary<string, ResourceQuantity> { ["memory"] = new("2Gi") } },
                },
            ],
        },
    };
}
