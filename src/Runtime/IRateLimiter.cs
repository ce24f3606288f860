namespace TorchFerry.Runtime;

/// <summary>How long an item waits before it is retried (client-go's workqueue.RateLimiter).</summary>
internal interface IRateLimiter<in TKey>
{
    /// <summary>The delay before the item's next retry; counts the retry.</summary>
    TimeSpan When(TKey key);

    /// <summary>The item succeeded: forget its failures.</summary>
    void Forget(TKey key);

    /// <summary>Retries counted for the item since it was last forgotten.</summary>
    int Retries(TKey key);
}
