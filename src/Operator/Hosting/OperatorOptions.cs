using TorchFerry.Storage;

namespace TorchFerry.Operator.Hosting;

/// <summary>How the operator runs.</summary>
internal sealed record OperatorOptions
{
    /// <summary>Watch one namespace, or all when null.</summary>
    public string? WatchNamespace { get; init; }

    /// <summary>Reconciles in flight per controller (never two on one object).</summary>
    public int Workers { get; init; } = 2;

    public bool LeaderElection { get; init; } = true;

    public string LeaseNamespace { get; init; } = "torchferry-system";

    public string LeaseName { get; init; } = "torchferry-operator";

    public string Identity { get; init; } = $"{Environment.MachineName}-{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>URI prefixes each namespace's artifacts may use ("*" for all namespaces); nothing is allowed otherwise.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> AllowedPrefixes { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>Where variants are written: beside their sources, or under a bucket-level prefix.</summary>
    public VariantLayout Variants { get; init; } = VariantLayout.Beside;

    /// <summary>Where /metrics, /healthz and /readyz are served.</summary>
    public string HttpAddress { get; init; } = "http://0.0.0.0:8080";

    /// <summary>spec.ttlAfterUnused for the artifacts the pod watcher registers; null: none.</summary>
    public string? DefaultTtlAfterUnused { get; init; }

    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);
}
