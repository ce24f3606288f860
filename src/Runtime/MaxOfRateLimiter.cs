namespace TorchFerry.Runtime;

/// <summary>The longest delay of several limiters (client-go's default: per-item backoff and the overall bucket).</summary>
internal sealed class MaxOfRateLimiter<TKey>(params IRateLimiter<TKey>[] limiters) : IRateLimiter<TKey>
{
    public TimeSpan When(TKey key) => limiters.Select(l => l.When(key)).Max();

    public void Forget(TKey key)
    {
        foreach (var limiter in limiters)
        {
            limiter.Forget(key);
        }
    }

    public int Retries(TKey key) => limiters.Max(l => l.Retries(key));
}
