namespace TorchFerry.Runtime;

/// <summary>
/// An overall token bucket (client-go: 10 per second, burst 100): each retry reserves a token and
/// waits until it is due, so a storm of failures cannot hammer the API server or the store.
/// </summary>
internal sealed class TokenBucketRateLimiter<TKey>(double perSecond, int burst, TimeProvider time) : IRateLimiter<TKey>
{
    private readonly Lock gate = new();
    private double tokens = burst;
    private long last = time.GetTimestamp();

    public TimeSpan When(TKey key)
    {
        lock (gate)
        {
            var now = time.GetTimestamp();
            tokens = Math.Min(burst, tokens + (time.GetElapsedTime(last, now).TotalSeconds * perSecond));
            last = now;
            tokens -= 1;
            return tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-tokens / perSecond);
        }
    }

    public void Forget(TKey key)
    {
    }

    public int Retries(TKey key) => 0;
}
