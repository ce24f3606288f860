using System.Runtime.CompilerServices;
using System.Text.Json;
using k8s;
using k8s.Models;

namespace TorchFerry.Runtime;

/// <summary>Lists and watches a custom resource through KubernetesClient's CustomObjects API.</summary>
internal sealed class CustomResourceClient<T>(IKubernetes client, string group, string version, string plural, string? @namespace) : IResourceClient<T>
    where T : IKubernetesObject<V1ObjectMeta>
{
    public async Task<(IReadOnlyList<T> Items, string ResourceVersion, string? Continue)> ListAsync(int limit, string? continueToken, CancellationToken cancellationToken)
    {
        var page = @namespace is null
            ? await client.CustomObjects.ListClusterCustomObjectAsync(group, version, plural, continueParameter: continueToken, limit: limit, cancellationToken: cancellationToken).ConfigureAwait(false)
            : await client.CustomObjects.ListNamespacedCustomObjectAsync(group, version, @namespace, plural, continueParameter: continueToken, limit: limit, cancellationToken: cancellationToken).ConfigureAwait(false);
        var list = KubernetesJson.Deserialize<ResourceList>(((JsonElement)page).GetRawText());
        return (list.Items ?? [], list.Metadata?.ResourceVersion ?? string.Empty, string.IsNullOrEmpty(list.Metadata?.ContinueProperty) ? null : list.Metadata.ContinueProperty);
    }

    public async IAsyncEnumerable<(WatchEventType Type, T Object)> WatchAsync(string resourceVersion, TimeSpan timeout, Action<Exception> onError, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var seconds = (int)Math.Max(1, timeout.TotalSeconds);
        var events = @namespace is null
            ? client.CustomObjects.WatchListClusterCustomObjectAsync(group, version, plural, resourceVersion: resourceVersion, allowWatchBookmarks: true, timeoutSeconds: seconds, onError: onError, cancellationToken: cancellationToken)
            : client.CustomObjects.WatchListNamespacedCustomObjectAsync(group, version, @namespace, plural, resourceVersion: resourceVersion, allowWatchBookmarks: true, timeoutSeconds: seconds, onError: onError, cancellationToken: cancellationToken);
        await foreach (var (type, item) in events.ConfigureAwait(false))
        {
            yield return (type, KubernetesJson.Deserialize<T>(item is JsonElement element ? element.GetRawText() : KubernetesJson.Serialize(item)));
        }
    }

    private sealed class ResourceList
    {
        [System.Text.Json.Serialization.JsonPropertyName("metadata")]
        public V1ListMeta? Metadata { get; set; }

        [System.Text.Json.Serialization.JsonPropertyName("items")]
        public List<T>? Items { get; set; }
    }
}
