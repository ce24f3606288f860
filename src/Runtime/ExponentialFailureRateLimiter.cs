namespace TorchFerry.Runtime;

/// <summary>Per-item exponential backoff: base × 2^failures, capped (client-go: 5 ms to 1000 s).</summary>
internal sealed class ExponentialFailureRateLimiter<TKey>(TimeSpan baseDelay, TimeSpan maxDelay) : IRateLimiter<TKey>
    where TKey : notnull
{
    private readonly Dictionary<TKey, int> failures = [];
    private readonly Lock gate = new();

    public static ExponentialFailureRateLimiter<TKey> Default() => new(TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(1000));

    public TimeSpan When(TKey key)
    {
        int exponent;
        lock (gate)
        {
            exponent = failures.GetValueOrDefault(key);
            failures[key] = exponent + 1;
        }

        // 2^exponent overflows long past 62; the cap is reached long before.
        var delay = baseDelay.Ticks * Math.Pow(2, Math.Min(exponent, 62));
        return delay >= maxDelay.Ticks ? maxDelay : TimeSpan.FromTicks((long)delay);
    }

    public void Forget(TKey key)
    {
        lock (gate)
        {
            failures.Remove(key);
        }
    }

    public int Retries(TKey key)
    {
        lock (gate)
        {
            return failures.GetValueOrDefault(key);
        }
    }
}
