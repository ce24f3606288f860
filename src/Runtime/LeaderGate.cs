using k8s;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;
using Serilog;

namespace TorchFerry.Runtime;

/// <summary>
/// Leader election on a coordination.k8s.io Lease. Work runs only while this replica leads: each
/// term gets its own cancellation token, cancelled the moment leadership is lost, so reconciles in
/// flight stop instead of racing the new leader.
/// </summary>
internal sealed class LeaderGate(IKubernetes client, LeaderGateOptions options, ILogger log)
{
    /// <summary>Runs <paramref name="work"/> for every term this replica leads, until <paramref name="cancellationToken"/> ends.</summary>
    public async Task RunAsync(Func<CancellationToken, Task> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        var lease = new LeaseLock(client, options.Namespace, options.LeaseName, options.Identity);
        using var elector = new LeaderElector(new LeaderElectionConfig(lease)
        {
            LeaseDuration = options.LeaseDuration,
            RenewDeadline = options.RenewDeadline,
            RetryPeriod = options.RetryPeriod,
        });
        CancellationTokenSource? term = null;
        Task running = Task.CompletedTask;
        elector.OnStartedLeading += () =>
        {
            log.Information("{Identity:l} leads {Namespace:l}/{Lease:l}", options.Identity, options.Namespace, options.LeaseName);
            term = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var token = term.Token;
            running = Task.Run(() => work(token), CancellationToken.None);
        };
        elector.OnStoppedLeading += () =>
        {
            log.Warning("{Identity:l} lost the lease {Namespace:l}/{Lease:l}; stopping work", options.Identity, options.Namespace, options.LeaseName);
            term?.Cancel();
        };

        try
        {
            await elector.RunAndTryToHoldLeadershipForeverAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            term?.Cancel();
            try
            {
                await running.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            term?.Dispose();
        }
    }
}

/// <summary>Which Lease, who we are, and controller-runtime's timings (15 s lease, 10 s renew deadline, 2 s retry).</summary>
internal sealed record LeaderGateOptions(string Namespace, string LeaseName, string Identity)
{
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);
}
