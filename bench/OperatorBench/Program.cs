using System.Diagnostics;
using System.Globalization;
using k8s;
using k8s.Models;
using Serilog;
using TorchFerry.Crds;
using TorchFerry.Operator.Hosting;
using TorchFerry.Storage;
using TorchFerry.TestSupport;
using TorchFerry.TestSupport.Kubernetes;

// operatorbench COUNT SOURCE_FILE WORKERS: registers COUNT CheckpointArtifacts at once (each its own copy
// of SOURCE_FILE, a GPU-tagged checkpoint) against the API server emulator, runs the operator in this
// process and reports how long until all are Ready, reconciles per second and this process's peak RSS.
if (args is not [var countText, var sourceFile, var workersText])
{
    Console.Error.WriteLine("usage: operatorbench COUNT SOURCE_FILE WORKERS");
    return 2;
}

var count = int.Parse(countText, CultureInfo.InvariantCulture);
const string Namespace = "bench";
using var folder = new TemporaryDirectory();
await using var api = new KubeApiEmulator();
api.Register("torchferry.io", "v1alpha1", "checkpointartifacts", nameof(CheckpointArtifact), statusSubresource: true);
api.Register("torchferry.io", "v1alpha1", "tensorartifacts", nameof(TensorArtifact), statusSubresource: true);
using var client = new Kubernetes(new KubernetesClientConfiguration { Host = api.Endpoint.ToString() });
for (var i = 0; i < count; i++)
{
    var path = folder.File($"ck-{i}.pt");
    File.Copy(sourceFile, path);
    await client.CustomObjects.CreateNamespacedCustomObjectAsync(
        new CheckpointArtifact
        {
            Metadata = new V1ObjectMeta { Name = $"ck-{i}", NamespaceProperty = Namespace },
            Spec = new ArtifactSpec { Source = new ArtifactSource { Uri = "file://" + path, Format = FlyteBlobFormat.PyTorchCheckpoint }, TargetDevices = ["cpu"] },
        },
        "torchferry.io",
        "v1alpha1",
        Namespace,
        "checkpointartifacts");
}

using var stores = new ObjectStoreRouter(log: new LoggerConfiguration().CreateLogger(), durableLocalWrites: false);
using var stop = new CancellationTokenSource();
var host = new OperatorHost(client, stores, new OperatorOptions
{
    AllowedPrefixes = new Dictionary<string, IReadOnlyList<string>> { [Namespace] = [$"file://{folder.Path}/"] },
    HttpAddress = "http://127.0.0.1:0",
    Workers = int.Parse(workersText, CultureInfo.InvariantCulture),
    LeaderElection = false,
}, TimeProvider.System, new LoggerConfiguration().CreateLogger());
var watch = Stopwatch.StartNew();
var running = host.RunAsync(stop.Token);
while (true)
{
    var ready = Enumerable.Range(0, count).Count(i => api.Get("torchferry.io", "v1alpha1", "checkpointartifacts", Namespace, $"ck-{i}")?["status"]?["phase"]?.GetValue<string>() == "Ready");
    if (ready == count)
    {
        break;
    }

    if (watch.Elapsed > TimeSpan.FromMinutes(10))
    {
        Console.Error.WriteLine($"only {ready} of {count} ready after 10 minutes");
        return 1;
    }

    await Task.Delay(100);
}

var elapsed = watch.Elapsed;
using var http = new HttpClient { BaseAddress = host.HttpEndpoint };
var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
var reconciles = metrics.Split('\n')
    .Where(l => l.StartsWith("controller_runtime_reconcile_total{controller=\"checkpointartifacts\"", StringComparison.Ordinal))
    .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
var peak = File.ReadAllLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
await stop.CancelAsync();
await running;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{count}|{elapsed.TotalSeconds:F2}|{reconciles}|{reconciles / elapsed.TotalSeconds:F1}|{long.Parse(peak, CultureInfo.InvariantCulture) / 1024}"));
return 0;
