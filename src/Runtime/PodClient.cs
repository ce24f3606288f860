using System.Runtime.CompilerServices;
using k8s;
using k8s.Models;

namespace TorchFerry.Runtime;

/// <summary>Lists and watches pods matching a label selector, in one namespace or all.</summary>
internal sealed class PodClient(IKubernetes client, string labelSelector, string? @namespace) : IResourceClient<V1Pod>
{
    public async Task<(IReadOnlyList<V1Pod> Items, string ResourceVersion, string? Continue)> ListAsync(int limit, string? continueToken, CancellationToken cancellationToken)
    {
        var list = @namespace is null
            ? await client.CoreV1.ListPodForAllNamespacesAsync(continueParameter: continueToken, labelSelector: labelSelector, limit: limit, cancellationToken: cancellationToken).ConfigureAwait(false)
            : await client.CoreV1.ListNamespacedPodAsync(@namespace, continueParameter: continueToken, labelSelector: labelSelector, limit: limit, cancellationToken: cancellationToken).ConfigureAwait(false);
        return ([.. list.Items], list.Metadata.ResourceVersion, string.IsNullOrEmpty(list.Metadata.ContinueProperty) ? null : list.Metadata.ContinueProperty);
    }

    public async IAsyncEnumerable<(WatchEventType Type, V1Pod Object)> WatchAsync(string resourceVersion, TimeSpan timeout, Action<Exception> onError, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var seconds = (int)Math.Max(1, timeout.TotalSeconds);
        var events = @namespace is null
            ? client.CoreV1.WatchListPodForAllNamespacesAsync(labelSelector: labelSelector, resourceVersion: resourceVersion, allowWatchBookmarks: true, timeoutSeconds: seconds, onError: onError, cancellationToken: cancellationToken)
            : client.CoreV1.WatchListNamespacedPodAsync(@namespace, labelSelector: labelSelector, resourceVersion: resourceVersion, allowWatchBookmarks: true, timeoutSeconds: seconds, onError: onError, cancellationToken: cancellationToken);
        await foreach (var item in events.ConfigureAwait(false))
        {
            yield return item;
        }
    }
}
