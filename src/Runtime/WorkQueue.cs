
namespace TorchFerry.Runtime;

/// <summary>
/// client-go's rate-limited work queue: keys are de-duplicated while waiting, a key being processed
/// is never handed to a second worker (if it is added meanwhile, it is processed again after
/// <see cref="Done"/>), delayed adds wait on the injected clock, and failures back off per key
/// combined with an overall token bucket.
/// </summary>
internal sealed class WorkQueue<TKey> : IDisposable
    where TKey : notnull
{
    private readonly Lock gate = new();
    private readonly Queue<TKey> ready = new();
    private readonly HashSet<TKey> dirty = [];
    private readonly HashSet<TKey> processing = [];
    private readonly Dictionary<TKey, ITimer> waiting = [];
    private readonly Dictionary<TKey, DateTimeOffset> waitingUntil = [];
    private readonly SemaphoreSlim available = new(0);
    private readonly IRateLimiter<TKey> limiter;
    private readonly TimeProvider time;
    private bool shutDown;

    public WorkQueue(IRateLimiter<TKey> limiter, TimeProvider time)
    {
        this.limiter = limiter;
        this.time = time;
    }

    /// <summary>Keys waiting to be processed (for the depth metric).</summary>
    public int Count
    {
        get
        {
            lock (gate)
            {
                return ready.Count;
            }
        }
    }

    /// <summary>Client-go's defaults: 5 ms doubling to 1000 s per key, at most 10 retries a second with bursts of 100.</summary>
    public static WorkQueue<TKey> CreateDefault(TimeProvider time) =>
        new(new MaxOfRateLimiter<TKey>(ExponentialFailureRateLimiter<TKey>.Default(), new TokenBucketRateLimiter<TKey>(10, 100, time)), time);

    /// <summary>Queues <paramref name="key"/> unless it is already waiting.</summary>
    public void Add(TKey key)
    {
        lock (gate)
        {
            if (shutDown || !dirty.Add(key))
            {
                return;
            }

            if (!processing.Contains(key))
            {
                ready.Enqueue(key);
                available.Release();
            }
        }
    }

    /// <summary>Queues <paramref name="key"/> after <paramref name="delay"/>; an earlier pending delay for the same key wins.</summary>
    public void AddAfter(TKey key, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            Add(key);
            return;
        }

        lock (gate)
        {
            if (shutDown)
            {
                return;
            }

            var due = time.GetUtcNow() + delay;
            if (waiting.TryGetValue(key, out var existing))
            {
                if (waitingUntil.TryGetValue(key, out var existingAt) && existingAt <= due)
                {
                    return;
                }

                existing.Dispose();
            }

            waitingUntil[key] = due;
            waiting[key] = time.CreateTimer(_ => Fire(key), null, delay, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Queues <paramref name="key"/> after its rate-limited backoff.</summary>
    public void AddRateLimited(TKey key) => AddAfter(key, limiter.When(key));

    /// <summary>The key succeeded: reset its backoff.</summary>
    public void Forget(TKey key) => limiter.Forget(key);

    /// <summary>Failures counted for the key since it last succeeded.</summary>
    public int Retries(TKey key) => limiter.Retries(key);

    /// <summary>The next key to process, marked as processing; null once the queue is shut down.</summary>
    public async Task<TKey?> TakeAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await available.WaitAsync(cancellationToken).ConfigureAwait(false);
            lock (gate)
            {
                if (ready.TryDequeue(out var key))
                {
                    processing.Add(key);
                    dirty.Remove(key);
                    return key;
                }

                if (shutDown)
                {
                    available.Release(); // wake the next waiter too
                    return default;
                }
            }
        }
    }

    /// <summary>Processing of <paramref name="key"/> ended; if it was added meanwhile, it is queued again.</summary>
    public void Done(TKey key)
    {
        lock (gate)
        {
            processing.Remove(key);
            if (dirty.Contains(key) && !shutDown)
            {
                ready.Enqueue(key);
                available.Release();
            }
        }
    }

    /// <summary>Stops handing out keys; waiters get null.</summary>
    public void ShutDown()
    {
        lock (gate)
        {
            shutDown = true;
            foreach (var timer in waiting.Values)
            {
                timer.Dispose();
            }

            waiting.Clear();
            available.Release();
        }
    }

    public void Dispose()
    {
        ShutDown();
        available.Dispose();
    }

    private void Fire(TKey key)
    {
        lock (gate)
        {
            if (waiting.Remove(key, out var timer))
            {
                timer.Dispose();
                waitingUntil.Remove(key);
            }
        }

        Add(key);
    }
}
