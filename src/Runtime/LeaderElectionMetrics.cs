using Prometheus;
using TorchFerry.Runtime.Hosting;

namespace TorchFerry.Runtime;

/// <summary>
/// client-go's leader election gauge by its name (<c>leader_election_master_status</c>, 1 while this
/// replica leads) and a count of failed acquire or renew attempts, so lease trouble shows before a
/// term is lost.
/// </summary>
internal sealed class LeaderElectionMetrics
{
    private readonly Gauge leading;
    private readonly Counter failures;

    public LeaderElectionMetrics(MetricsRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        leading = registry.Factory.CreateGauge("leader_election_master_status", "Whether this replica leads (1) or not (0), per lease.", ["name"]);
        failures = registry.Factory.CreateCounter("leader_election_errors_total", "Lease acquire or renew attempts that failed (transport errors, conflicts, refusals), per lease.", ["name"]);
    }

    public void Leading(string lease, bool value) => leading.WithLabels(lease).Set(value ? 1 : 0);

    public void Failed(string lease) => failures.WithLabels(lease).Inc();
}
