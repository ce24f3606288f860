using System.Diagnostics;
using k8s;
using k8s.Models;
using Serilog;

namespace TorchFerry.Runtime;

/// <summary>
/// Informer, work queue and workers for one resource type: every change queues the object's key;
/// workers (as many as configured, never two on one key) reconcile the cached object, requeue on
/// request, back off on errors, forget keys whose error is terminal; exceptions never escape a worker.
/// A request the API server refused for good (400, 413, 415, 422) is also reported through
/// <paramref name="reportRefused"/> (an Event on the object), once per change of the object.
/// </summary>
internal sealed class Controller<T>(
    string name,
    ResourceInformer<T> informer,
    Func<T, CancellationToken, Task<ReconcileResult>> reconcile,
    int workers,
    ControllerMetrics metrics,
    TimeProvider time,
    ILogger log,
    Func<T, string, CancellationToken, Task>? reportRefused = null)
    where T : IKubernetesObject<V1ObjectMeta>
{
    private readonly WorkQueue<string> queue = WorkQueue<string>.CreateDefault(time);

    /// <summary>The informer has listed everything once (readiness).</summary>
    public Task Synced => informer.Synced;

    public string Name => name;

    /// <summary>Runs the informer and the workers until <paramref name="cancellationToken"/> ends (loss of leadership or shutdown).</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        metrics.TrackDepth(name, () => queue.Count);
        informer.OnChange = (_, item) =>
        {
            queue.Add($"{item.Metadata.NamespaceProperty}/{item.Metadata.Name}");
            metrics.Added(name);
            return ValueTask.CompletedTask;
        };
        using var stop = cancellationToken.Register(queue.ShutDown);
        var informing = informer.RunAsync(cancellationToken);
        var working = Enumerable.Range(0, Math.Max(1, workers)).Select(_ => WorkAsync(cancellationToken)).ToList();
        await Task.WhenAll(working).ConfigureAwait(false);
        await informing.ConfigureAwait(false);
    }

    /// <summary>Queues a key from outside (another controller noticed something).</summary>
    public void Enqueue(string @namespace, string objectName) => queue.Add($"{@namespace}/{objectName}");

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        while (await queue.TakeAsync(CancellationToken.None).ConfigureAwait(false) is { } key)
        {
            var watch = Stopwatch.StartNew();
            var result = "success";
            T? item = default;
            try
            {
                var slash = key.IndexOf('/', StringComparison.Ordinal);
                item = informer.Get(key[..slash], key[(slash + 1)..]);
                if (item is null)
                {
                    queue.Forget(key); // deleted: nothing to do
                    continue;
                }

                var outcome = await reconcile(item, cancellationToken).ConfigureAwait(false);
                queue.Forget(key);
                if (outcome.RequeueAfter is { } after)
                {
                    result = "requeue_after";
                    queue.AddAfter(key, after);
                }
                else
                {
                    // Handled: nothing more until it changes, so the cache need not hold its body.
                    informer.Release(item);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                result = "cancelled";
            }
            catch (Exception e) when (e is TerminalReconcileException || ApiErrors.IsTerminal(e))
            {
                // Retrying gives the same answer: drop the key until the object changes again.
                result = "terminal";
                queue.Forget(key);
                log.Warning("{Controller:l}: reconciling {Key:l} failed for good ({Error:l}); not retried until it changes", name, key, ApiErrors.Describe(e));
                if (e is not TerminalReconcileException && reportRefused is not null && item is not null)
                {
                    await ReportAsync(item, $"the API server refused a change ({ApiErrors.Describe(e)}); not retried until the object changes", cancellationToken).ConfigureAwait(false);
                }
            }
#pragma warning disable CA1031 // a worker must survive any reconcile failure; the key backs off and is retried
            catch (Exception e)
#pragma warning restore CA1031
            {
                result = "error";
                metrics.Retried(name);
                log.Error(e, "{Controller:l}: reconciling {Key:l} failed (retry {Retries}); backing off", name, key, queue.Retries(key));
                queue.AddRateLimited(key);
            }
            finally
            {
                queue.Done(key);
                metrics.Reconciled(name, result, watch.Elapsed);
            }
        }
    }

    private async Task ReportAsync(T item, string message, CancellationToken cancellationToken)
    {
        try
        {
            await reportRefused!(item, message, cancellationToken).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // a report that fails must not take the worker down; the log line stays
        catch (Exception e)
#pragma warning restore CA1031
        {
            log.Warning("{Controller:l}: could not report the refusal ({Error:l})", name, e.Message);
        }
    }
}
