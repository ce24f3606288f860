using System.CommandLine;
using System.Text.Json;
using k8s;
using Serilog;
using Serilog.Formatting.Compact;
using TorchFerry.Contract;
using TorchFerry.Runtime.Hosting;
using TorchFerry.Storage;

namespace TorchFerry.Operator.Hosting;

/// <summary><c>torchferry-operator</c>: flags, configuration, JSON logs, signals.</summary>
internal static class OperatorCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        var kubeconfig = new Option<string?>("--kubeconfig") { Description = "A kubeconfig file; in-cluster configuration when running in a pod, else ~/.kube/config." };
        var watchNamespace = new Option<string?>("--watch-namespace") { Description = "Watch artifacts in one namespace only (default: all)." };
        var workers = new Option<int>("--workers") { Description = "Concurrent reconciles per controller.", DefaultValueFactory = _ => 2 };
        var noLeaderElection = new Option<bool>("--no-leader-election") { Description = "Run without a Lease (one replica only)." };
        var leaseNamespace = new Option<string>("--lease-namespace") { Description = "Namespace of the leader Lease (default: POD_NAMESPACE, else torchferry-system).", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("POD_NAMESPACE") ?? "torchferry-system" };
        var leaseName = new Option<string>("--lease-name") { Description = "Name of the leader Lease (one per installation).", DefaultValueFactory = _ => "torchferry-operator" };
        var prefixes = new Option<string?>("--allowed-prefixes") { Description = "JSON file: {\"namespace\": [\"s3://bucket/prefix/\"], \"*\": [...]}; URIs outside are refused." };
        var http = new Option<string>("--http-address") { Description = "Where /metrics, /healthz and /readyz listen.", DefaultValueFactory = _ => "http://0.0.0.0:8080" };
        var shutdownTimeout = CommandLine.Seconds("--shutdown-timeout", "Seconds after SIGTERM for conversions in flight to abort cleanly and the Lease to be released, before the process exits", 25, minimum: 1);
        var defaultTtl = CommandLine.Checked(
            "--default-ttl-after-unused",
            "spec.ttlAfterUnused given to the artifacts the pod watcher registers (Go duration in h, m and s: 168h); unset: their variants stay while they do.",
            value => KubeDuration.TryParse(value, out _) ? null : $"--default-ttl-after-unused must be a duration such as 168h or 90m, not '{value}'");
        var variantPrefix = CommandLine.Checked(
            "--variant-prefix",
            "Write S3 variants in the source's bucket under this prefix (torchferry-variants/), keeping the source's key, so a bucket lifecycle rule can expire them; unset: beside their sources. The webhook's --variant-prefix must be the same.",
            value => VariantLayout.Problem(value) is { } problem ? "--variant-prefix: " + problem : null);
        var root = new RootCommand("TorchFerry operator: keeps converted variants of Flyte's PyTorch artifacts ready.")
        {
            kubeconfig, watchNamespace, workers, noLeaderElection, leaseNamespace, leaseName, prefixes, http, shutdownTimeout, defaultTtl, variantPrefix,
        };
        root.SetAction(async (parse, cancellationToken) =>
        {
            Log.Logger = new LoggerConfiguration().WriteTo.Console(new CompactJsonFormatter()).CreateLogger();
            try
            {
                using var client = new Kubernetes(KubeConfig.Select(parse.GetValue(kubeconfig)));
                using var stores = new ObjectStoreRouter(log: Log.Logger);
                var options = new OperatorOptions
                {
                    WatchNamespace = parse.GetValue(watchNamespace),
                    Workers = parse.GetValue(workers),
                    LeaderElection = !parse.GetValue(noLeaderElection),
                    LeaseNamespace = parse.GetValue(leaseNamespace)!,
                    LeaseName = parse.GetValue(leaseName)!,
                    AllowedPrefixes = parse.GetValue(prefixes) is { } path
                        ? JsonSerializer.Deserialize<Dictionary<string, IReadOnlyList<string>>>(await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)) ?? []
                        : new Dictionary<string, IReadOnlyList<string>>(),
                    HttpAddress = parse.GetValue(http)!,
                    Identity = Environment.GetEnvironmentVariable("POD_NAME") ?? new OperatorOptions().Identity,
                    DefaultTtlAfterUnused = parse.GetValue(defaultTtl),
                    Variants = VariantLayout.Under(parse.GetValue(variantPrefix)),
                };
                if (options.AllowedPrefixes.Count == 0)
                {
                    Log.Warning("No --allowed-prefixes: every artifact URI will be refused");
                }

                await new OperatorHost(client, stores, options, TimeProvider.System, Log.Logger).RunAsync(cancellationToken).ConfigureAwait(false);
                return 0;
            }
            catch (OperationCanceledException)
            {
                return 0;
            }
            finally
            {
                await Log.CloseAndFlushAsync().ConfigureAwait(false);
            }
        });
        return await CommandLine.InvokeAsync(root, "torchferry-operator", args, Console.Error, terminationTimeout: parse => TimeSpan.FromSeconds(parse.GetValue(shutdownTimeout))).ConfigureAwait(false);
    }
}
