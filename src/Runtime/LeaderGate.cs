using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Serilog;

namespace TorchFerry.Runtime;

/// <summary>
/// Leader election on a coordination.k8s.io Lease, as client-go's leaderelection package does it.
/// Work runs only while this replica leads: each term gets its own cancellation token, cancelled once
/// renewing has failed for the whole renew deadline (a connection reset or an API server restart is
/// retried every retry period until then, not taken as a loss). A new term starts only after the
/// previous term's work has stopped, so two sets of controllers never overlap in one process. On
/// shutdown the work is stopped first and the Lease then released (holder cleared), so the other
/// replica takes over at its next retry instead of waiting for the Lease to expire.
/// </summary>
internal sealed class LeaderGate(IKubernetes client, LeaderGateOptions options, TimeProvider time, ILogger log, LeaderElectionMetrics? metrics = null)
{
    private V1LeaseSpec? observed;
    private long observedAt;

    /// <summary>Runs <paramref name="work"/> for every term this replica leads, until <paramref name="cancellationToken"/> ends.</summary>
    public async Task RunAsync(Func<CancellationToken, Task> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        while (await AcquireAsync(cancellationToken).ConfigureAwait(false))
        {
            log.Information("{Identity:l} leads {Namespace:l}/{Lease:l}", options.Identity, options.Namespace, options.LeaseName);
            metrics?.Leading(options.LeaseName, true);
            using var term = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var running = Task.Run(() => work(term.Token), CancellationToken.None);
            var renewing = RenewAsync(term.Token);
            await Task.WhenAny(running, renewing).ConfigureAwait(false);
            var lost = renewing.IsCompleted && !cancellationToken.IsCancellationRequested;
            if (lost)
            {
                log.Warning("{Identity:l} could not renew {Namespace:l}/{Lease:l} within {Deadline}; stopping work", options.Identity, options.Namespace, options.LeaseName, options.RenewDeadline);
            }

            await term.CancelAsync().ConfigureAwait(false);
            var failure = await StoppedAsync(running).ConfigureAwait(false);
            await renewing.ConfigureAwait(false);
            metrics?.Leading(options.LeaseName, false);
            if (cancellationToken.IsCancellationRequested || failure is not null)
            {
                await ReleaseAsync().ConfigureAwait(false);
                if (failure is not null)
                {
                    throw new InvalidOperationException($"work under the lease {options.Namespace}/{options.LeaseName} failed: {failure.Message}", failure);
                }

                return;
            }
        }
    }

    // The term's work has ended (cancelled, or on its own); its failure, if it failed other than by cancellation.
    private static async Task<Exception?> StoppedAsync(Task running)
    {
        try
        {
            await running.ConfigureAwait(false);
            return null;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
#pragma warning disable CA1031 // reported to the caller after the lease is released
        catch (Exception e)
#pragma warning restore CA1031
        {
            return e;
        }
    }

    /// <returns>False when cancelled before acquiring.</returns>
    private async Task<bool> AcquireAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                attempt.CancelAfter(options.RenewDeadline);
                if (await TryAcquireOrRenewAsync(attempt.Token, cancellationToken).ConfigureAwait(false))
                {
                    return true;
                }

                // client-go's jitter: replicas that started together do not keep colliding.
                await Task.Delay(options.RetryPeriod * (1 + (Random.Shared.NextDouble() * 0.2)), time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return false; // a standby told to stop mid-attempt just stops
            }
        }

        return false;
    }

    /// <summary>Renews every retry period; returns when a renewal has not succeeded for the renew deadline, or when the term is cancelled.</summary>
    private async Task RenewAsync(CancellationToken term)
    {
        var renewed = time.GetTimestamp();
        var wait = options.RetryPeriod;
        try
        {
            while (true)
            {
                await Task.Delay(wait, time, term).ConfigureAwait(false);
                var left = options.RenewDeadline - time.GetElapsedTime(renewed);
                if (left <= TimeSpan.Zero)
                {
                    return;
                }

                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(term);
                attempt.CancelAfter(left);
                if (await TryAcquireOrRenewAsync(attempt.Token, term).ConfigureAwait(false))
                {
                    renewed = time.GetTimestamp();
                    wait = options.RetryPeriod;
                }
                else
                {
                    // Retry every period, but look again at the deadline itself rather than a period past it.
                    var remaining = options.RenewDeadline - time.GetElapsedTime(renewed);
                    wait = remaining < options.RetryPeriod ? (remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero) : options.RetryPeriod;
                }
            }
        }
        catch (OperationCanceledException) when (term.IsCancellationRequested)
        {
        }
    }

    /// <summary>One read and one write of the Lease; false (logged and counted) on any failure.</summary>
    private async Task<bool> TryAcquireOrRenewAsync(CancellationToken attempt, CancellationToken cancellationToken)
    {
        try
        {
            V1Lease lease;
            try
            {
                lease = await client.CoordinationV1.ReadNamespacedLeaseAsync(options.LeaseName, options.Namespace, cancellationToken: attempt).ConfigureAwait(false);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
            {
                var now = time.GetUtcNow().UtcDateTime;
                var created = await client.CoordinationV1.CreateNamespacedLeaseAsync(
                    new V1Lease { Metadata = new V1ObjectMeta { Name = options.LeaseName, NamespaceProperty = options.Namespace }, Spec = Record(now, now, 0) },
                    options.Namespace,
                    cancellationToken: attempt).ConfigureAwait(false);
                Observe(created.Spec);
                return true;
            }

            var spec = lease.Spec ?? new V1LeaseSpec();
            if (!SameRecord(spec, observed))
            {
                Observe(spec);
            }

            var mine = spec.HolderIdentity == options.Identity;
            var expiresAfter = TimeSpan.FromSeconds(spec.LeaseDurationSeconds ?? 0);
            if (!mine && !string.IsNullOrEmpty(spec.HolderIdentity) && time.GetElapsedTime(observedAt) < expiresAfter)
            {
                return false; // someone else holds a lease that has not expired by our clock
            }

            var current = time.GetUtcNow().UtcDateTime;
            lease.Spec = mine
                ? Record(spec.AcquireTime ?? current, current, spec.LeaseTransitions ?? 0)
                : Record(current, current, (spec.LeaseTransitions ?? 0) + 1);
            var written = await client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, options.LeaseName, options.Namespace, cancellationToken: attempt).ConfigureAwait(false);
            Observe(written.Spec);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException or OperationCanceledException or System.Text.Json.JsonException)
        {
            // Conflicts (another replica wrote first), refusals and transport errors alike: try again next period.
            metrics?.Failed(options.LeaseName);
            log.Warning("{Identity:l}: lease {Namespace:l}/{Lease:l} not acquired or renewed ({Error:l})", options.Identity, options.Namespace, options.LeaseName, e is OperationCanceledException ? "timed out" : ApiErrors.Describe(e));
            return false;
        }
    }

    /// <summary>Clears the holder so the next replica need not wait for expiry; best effort, bounded.</summary>
    private async Task ReleaseAsync()
    {
        using var bounded = new CancellationTokenSource(options.RenewDeadline);
        try
        {
            var lease = await client.CoordinationV1.ReadNamespacedLeaseAsync(options.LeaseName, options.Namespace, cancellationToken: bounded.Token).ConfigureAwait(false);
            if (lease.Spec?.HolderIdentity != options.Identity)
            {
                return;
            }

            var now = time.GetUtcNow().UtcDateTime;
            lease.Spec = new V1LeaseSpec { HolderIdentity = null, LeaseDurationSeconds = 1, AcquireTime = now, RenewTime = now, LeaseTransitions = lease.Spec.LeaseTransitions };
            await client.CoordinationV1.ReplaceNamespacedLeaseAsync(lease, options.LeaseName, options.Namespace, cancellationToken: bounded.Token).ConfigureAwait(false);
            log.Information("{Identity:l} released {Namespace:l}/{Lease:l}", options.Identity, options.Namespace, options.LeaseName);
        }
        catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException or OperationCanceledException or System.Text.Json.JsonException)
        {
            log.Warning("{Identity:l}: lease {Namespace:l}/{Lease:l} not released ({Error:l}); it expires in {Duration}", options.Identity, options.Namespace, options.LeaseName, e is OperationCanceledException ? "timed out" : ApiErrors.Describe(e), options.LeaseDuration);
        }
    }

    private V1LeaseSpec Record(DateTime acquired, DateTime renewed, int transitions) => new()
    {
        HolderIdentity = options.Identity,
        LeaseDurationSeconds = (int)Math.Ceiling(options.LeaseDuration.TotalSeconds),
        AcquireTime = acquired,
        RenewTime = renewed,
        LeaseTransitions = transitions,
    };

    // Expiry is judged by our own clock from when the record last changed, not by the writer's timestamps (clocks differ).
    private void Observe(V1LeaseSpec spec)
    {
        observed = spec;
        observedAt = time.GetTimestamp();
    }

    private static bool SameRecord(V1LeaseSpec a, V1LeaseSpec? b) =>
        b is not null && a.HolderIdentity == b.HolderIdentity && a.RenewTime == b.RenewTime && a.AcquireTime == b.AcquireTime && a.LeaseTransitions == b.LeaseTransitions && a.LeaseDurationSeconds == b.LeaseDurationSeconds;
}

/// <summary>Which Lease, who we are, and controller-runtime's timings (15 s lease, 10 s renew deadline, 2 s retry).</summary>
internal sealed record LeaderGateOptions(string Namespace, string LeaseName, string Identity)
{
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);
}
