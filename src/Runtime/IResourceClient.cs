using k8s;

namespace TorchFerry.Runtime;

/// <summary>List and watch one resource type (in one namespace or all): what an informer needs.</summary>
internal interface IResourceClient<T>
{
    /// <summary>One page of a LIST: the items, the list's resourceVersion and the continue token (null on the last page).</summary>
    Task<(IReadOnlyList<T> Items, string ResourceVersion, string? Continue)> ListAsync(int limit, string? continueToken, CancellationToken cancellationToken);

    /// <summary>A WATCH from <paramref name="resourceVersion"/>; error events (410 Expired, ...) go to <paramref name="onError"/>.</summary>
    IAsyncEnumerable<(WatchEventType Type, T Object)> WatchAsync(string resourceVersion, TimeSpan timeout, Action<Exception> onError, CancellationToken cancellationToken);
}
