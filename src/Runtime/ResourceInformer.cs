using k8s;
using k8s.Autorest;
using k8s.Models;
using Serilog;

namespace TorchFerry.Runtime;

/// <summary>
/// Keeps a local cache of one resource type in step with the API server and reports every change:
/// a paged LIST, then a WATCH from the list's resourceVersion, resumed from the last seen version when
/// it ends or drops, restarted by a watchdog when it goes silent, and replaced by a fresh LIST (with
/// Deleted reported for objects that vanished meanwhile) when the server answers 410 Expired.
/// Errors back off exponentially; nothing is silently dropped (the watch's error callback is always wired).
/// </summary>
internal sealed class ResourceInformer<T>(IResourceClient<T> client, InformerOptions options, TimeProvider time, ILogger log)
    where T : IKubernetesObject<V1ObjectMeta>
{
    // A released entry holds the object's shell: its version is remembered, its body is not served.
    private readonly Dictionary<string, Entry> cache = new(StringComparer.Ordinal);
    private readonly Lock gate = new();
    private readonly TaskCompletionSource synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string resourceVersion = string.Empty;

    /// <summary>
    /// Applied to every listed and watched object before it is cached or reported: what the cache need
    /// not hold (a pod's environment and volumes) is dropped at the door, as controller-runtime's cache
    /// transforms do. Must keep name, namespace and resourceVersion.
    /// </summary>
    public Func<T, T>? Transform { get; init; }

    /// <summary>
    /// Makes the shell an object is reduced to when <see cref="Release"/> is called: at least name,
    /// namespace and resourceVersion. Null: objects are never released (every body stays cached).
    /// </summary>
    public Func<T, T>? Shell { get; init; }

    /// <summary>Called for every change, in order, on the informer's loop.</summary>
    public Func<WatchEventType, T, ValueTask>? OnChange { get; set; }

    /// <summary>Completes after the first full LIST: the cache is then complete (readiness).</summary>
    public Task Synced => synced.Task;

    /// <summary>Lists completed (the first one and every relist).</summary>
    public int Lists { get; private set; }

    /// <summary>Watches started.</summary>
    public int Watches { get; private set; }

    /// <summary>A snapshot of the cache.</summary>
    public IReadOnlyList<T> Items
    {
        get
        {
            lock (gate)
            {
                return [.. cache.Values.Where(e => !e.Released).Select(e => e.Item)];
            }
        }
    }

    /// <summary>The cached object, if any.</summary>
    public T? Get(string @namespace, string name)
    {
        lock (gate)
        {
            return cache.TryGetValue($"{@namespace}/{name}", out var found) && !found.Released ? found.Item : default;
        }
    }

    /// <summary>Objects cached whole (released ones are not counted).</summary>
    public int Held
    {
        get
        {
            lock (gate)
            {
                return cache.Values.Count(e => !e.Released);
            }
        }
    }

    /// <summary>
    /// Drops the body of <paramref name="item"/> from the cache, keeping its <see cref="Shell"/>: it was
    /// handled and needs nothing until it changes (a pod that succeeded and whose outputs are
    /// registered). Its next change brings the body back, a relist that finds it unchanged does not
    /// report it again, and its deletion is still reported. Does nothing when the cache already holds a
    /// newer version (that change is queued) or no <see cref="Shell"/> is set.
    /// </summary>
    public void Release(T item)
    {
        ArgumentNullException.ThrowIfNull(item);
        if (Shell is not { } shell)
        {
            return;
        }

        lock (gate)
        {
            var key = Key(item);
            if (cache.TryGetValue(key, out var held) && !held.Released && held.Item.Metadata.ResourceVersion == item.Metadata.ResourceVersion)
            {
                cache[key] = new Entry(shell(held.Item), Released: true);
            }
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var failures = 0;
        var relist = true;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (relist)
                {
                    await ListAsync(cancellationToken).ConfigureAwait(false);
                    relist = false;
                }

                var expired = await WatchAsync(cancellationToken).ConfigureAwait(false);
                relist = expired;
                failures = 0;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException or KubernetesException or System.Text.Json.JsonException)
            {
                relist |= e is HttpOperationException { Response.StatusCode: System.Net.HttpStatusCode.Gone };
                var delay = TimeSpan.FromMilliseconds(Math.Min(options.MaxBackoff.TotalMilliseconds, options.InitialBackoff.TotalMilliseconds * Math.Pow(2, failures++)));
                log.Warning("Informer for {Type:l} failed ({Error:l}); retrying in {Delay}", typeof(T).Name, e.Message, delay);
                await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task ListAsync(CancellationToken cancellationToken)
    {
        var seen = new Dictionary<string, T>(StringComparer.Ordinal);
        string? token = null;
        string version;
        do
        {
            var (items, listVersion, next) = await client.ListAsync(options.PageSize, token, cancellationToken).ConfigureAwait(false);
            foreach (var item in items)
            {
                seen[Key(item)] = Transform is { } transform ? transform(item) : item;
            }

            version = listVersion;
            token = next;
        }
        while (token is not null);

        List<(WatchEventType, T)> changes = [];
        lock (gate)
        {
            // An unchanged object keeps what is cached of it (a released one stays a shell).
            foreach (var (key, item) in seen)
            {
                var known = cache.TryGetValue(key, out var old);
                if (!known || old.Item.Metadata.ResourceVersion != item.Metadata.ResourceVersion)
                {
                    changes.Add((known ? WatchEventType.Modified : WatchEventType.Added, item));
                    cache[key] = new Entry(item, Released: false);
                }
            }

            // Objects deleted while we were not watching.
            foreach (var key in cache.Keys.Where(key => !seen.ContainsKey(key)).ToList())
            {
                changes.Add((WatchEventType.Deleted, cache[key].Item));
                cache.Remove(key);
            }

            resourceVersion = version;
            Lists++;
        }

        foreach (var (type, item) in changes)
        {
            await NotifyAsync(type, item).ConfigureAwait(false);
        }

        synced.TrySetResult();
    }

    /// <returns>True when the server said the resourceVersion expired (410): relist.</returns>
    private async Task<bool> WatchAsync(CancellationToken cancellationToken)
    {
        var expired = false;
        Exception? failure = null;
        using var watchdog = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var timer = time.CreateTimer(_ => watchdog.Cancel(), null, options.Watchdog, Timeout.InfiniteTimeSpan);
        Watches++;
        try
        {
            void OnError(Exception e)
            {
                if (e is KubernetesException { Status.Code: 410 })
                {
                    expired = true;
                }
                else
                {
                    failure = e;
                }
            }

            await foreach (var (type, received) in client.WatchAsync(resourceVersion, options.WatchTimeout, OnError, watchdog.Token).ConfigureAwait(false))
            {
                timer.Change(options.Watchdog, Timeout.InfiniteTimeSpan);
                if (type == WatchEventType.Bookmark)
                {
                    resourceVersion = received.Metadata.ResourceVersion;
                    continue;
                }

                var item = Transform is { } transform ? transform(received) : received;

                lock (gate)
                {
                    if (type == WatchEventType.Deleted)
                    {
                        cache.Remove(Key(item));
                    }
                    else
                    {
                        cache[Key(item)] = new Entry(item, Released: false);
                    }

                    resourceVersion = item.Metadata.ResourceVersion;
                }

                await NotifyAsync(type, item).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            log.Warning("Watch of {Type:l} was silent for {Watchdog}; restarting it from {ResourceVersion}", typeof(T).Name, options.Watchdog, resourceVersion);
        }

        if (failure is not null && !expired)
        {
            throw new IOException($"watch of {typeof(T).Name} failed: {failure.Message}", failure);
        }

        return expired;
    }

    private async ValueTask NotifyAsync(WatchEventType type, T item)
    {
        if (OnChange is { } handler)
        {
            await handler(type, item).ConfigureAwait(false);
        }
    }

    private static string Key(T item) => $"{item.Metadata.NamespaceProperty}/{item.Metadata.Name}";

    private readonly record struct Entry(T Item, bool Released);
}

/// <summary>Informer timings and sizes.</summary>
internal sealed record InformerOptions
{
    public int PageSize { get; init; } = 500;

    /// <summary>How long a watch is asked to last before the server ends it (and it is resumed).</summary>
    public TimeSpan WatchTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>A watch silent this long is assumed hung and restarted.</summary>
    public TimeSpan Watchdog { get; init; } = TimeSpan.FromMinutes(10);

    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);
}
