using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport.Kubernetes.Admission;

/// <summary>
/// The API server's MutatingAdmissionWebhook plugin for pod CREATE (admission/plugin/webhook/mutating):
/// webhooks of every MutatingWebhookConfiguration, ordered by configuration name, filtered by rules,
/// namespaceSelector and objectSelector, called over HTTPS as the API server calls them (the
/// Service's DNS name, trusting only the caBundle, within timeoutSeconds); failurePolicy covers the
/// call alone: a refusal is a 403 and a patch that does not apply is a 500 whatever the policy.
/// reinvocationPolicy IfNeeded calls a webhook once more when a later one changed the pod.
/// </summary>
internal sealed class MutatingWebhookDispatcher(Func<string, string, int, Uri?> resolveService, Action<AdmissionRecord> record)
{
    public async Task<JsonObject> AdmitAsync(JsonObject pod, string @namespace, IReadOnlyDictionary<string, string> namespaceLabels, IEnumerable<JsonObject> configurations, CancellationToken cancellationToken)
    {
        var webhooks = configurations
            .OrderBy(c => c["metadata"]!["name"]!.GetValue<string>(), StringComparer.Ordinal)
            .SelectMany(c => ((c["webhooks"] as JsonArray) ?? []).OfType<JsonObject>())
            .Where(w => Matches(w, pod, namespaceLabels))
            .ToList();
        var again = new HashSet<int>();
        for (var i = 0; i < webhooks.Count; i++)
        {
            var before = (JsonObject)pod.DeepClone();
            pod = await CallAsync(webhooks[i], pod, @namespace, cancellationToken).ConfigureAwait(false);
            if (!JsonNode.DeepEquals(before, pod))
            {
                again.UnionWith(Enumerable.Range(0, i).Where(j => webhooks[j]["reinvocationPolicy"]?.GetValue<string>() == "IfNeeded"));
            }
        }

        foreach (var i in again.Order())
        {
            pod = await CallAsync(webhooks[i], pod, @namespace, cancellationToken).ConfigureAwait(false);
        }

        return pod;
    }

    private static bool Matches(JsonObject webhook, JsonObject pod, IReadOnlyDictionary<string, string> namespaceLabels)
    {
        static bool Has(JsonNode? list, string value) => list is JsonArray a && a.Any(v => v?.GetValue<string>() is var s && (s == value || s == "*"));
        var ruled = ((webhook["rules"] as JsonArray) ?? []).OfType<JsonObject>().Any(r =>
            Has(r["operations"], "CREATE") && Has(r["apiGroups"], string.Empty) && Has(r["apiVersions"], "v1") && Has(r["resources"], "pods")
            && r["scope"]?.GetValue<string>() is null or "*" or "Namespaced");
        return ruled
            && LabelSelector.Matches(webhook["namespaceSelector"], namespaceLabels)
            && LabelSelector.Matches(webhook["objectSelector"], LabelSelector.Labels(pod));
    }

    private async Task<JsonObject> CallAsync(JsonObject webhook, JsonObject pod, string @namespace, CancellationToken cancellationToken)
    {
        var name = webhook["name"]!.GetValue<string>();
        var podName = pod["metadata"]?["name"]?.GetValue<string>() ?? string.Empty;
        var ignore = webhook["failurePolicy"]?.GetValue<string>() == "Ignore";
        JsonObject response;
        try
        {
            response = await ReviewAsync(webhook, pod, @namespace, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or InvalidDataException or System.Text.Json.JsonException)
        {
            var why = $"failed calling webhook \"{name}\": {e.Message}";
            if (ignore && !cancellationToken.IsCancellationRequested)
            {
                record(new AdmissionRecord(@namespace, podName, name, "ignored: " + why, null));
                return pod;
            }

            record(new AdmissionRecord(@namespace, podName, name, "failed: " + why, null));
            throw new ApiError(500, "InternalError", "Internal error occurred: " + why);
        }

        if (response["allowed"]?.GetValue<bool>() != true)
        {
            var message = response["status"]?["message"]?.GetValue<string>() ?? string.Empty;
            record(new AdmissionRecord(@namespace, podName, name, "refused: " + message, null));
            throw new ApiError(403, "Forbidden", $"admission webhook \"{name}\" denied the request: {message}");
        }

        if (response["patch"]?.GetValue<string>() is not { } encoded)
        {
            record(new AdmissionRecord(@namespace, podName, name, "unchanged", null));
            return pod;
        }

        JsonArray patch;
        try
        {
            patch = JsonNode.Parse(Convert.FromBase64String(encoded))!.AsArray();
            var patched = JsonPatch.Apply(pod, patch).AsObject();
            record(new AdmissionRecord(@namespace, podName, name, "patched", patch));
            return patched;
        }
#pragma warning disable CA1031 // whatever makes the patch not apply fails the request, as in the API server
        catch (Exception e)
#pragma warning restore CA1031
        {
            var why = $"JSON patch from webhook \"{name}\" does not apply: {e.Message}";
            record(new AdmissionRecord(@namespace, podName, name, "failed: " + why, null));
            throw new ApiError(500, "InternalError", "Internal error occurred: " + why);
        }
    }

    private async Task<JsonObject> ReviewAsync(JsonObject webhook, JsonObject pod, string @namespace, CancellationToken cancellationToken)
    {
        var client = webhook["clientConfig"]!.AsObject();
        Uri url;
        Uri? connectTo = null;
        if (client["service"] is JsonObject service)
        {
            var (serviceNamespace, serviceName) = (service["namespace"]!.GetValue<string>(), service["name"]!.GetValue<string>());
            var port = service["port"]?.GetValue<int>() ?? 443;
            url = new Uri($"https://{serviceName}.{serviceNamespace}.svc:{port}{service["path"]?.GetValue<string>() ?? "/"}");
            connectTo = resolveService(serviceNamespace, serviceName, port) ?? throw new HttpRequestException($"service \"{serviceNamespace}/{serviceName}\" has no endpoints");
        }
        else
        {
            url = new Uri(client["url"]!.GetValue<string>());
        }

        var roots = client["caBundle"]?.GetValue<string>() is { } bundle ? CaBundle.Parse(Encoding.ASCII.GetString(Convert.FromBase64String(bundle))) : [];
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, token) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(connectTo?.Host ?? context.DnsEndPoint.Host, connectTo?.Port ?? context.DnsEndPoint.Port, token).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            SslOptions = new SslClientAuthenticationOptions
            {
                TargetHost = url.Host,
                RemoteCertificateValidationCallback = CaBundle.Trusting(roots),
            },
        };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(webhook["timeoutSeconds"]?.GetValue<int>() ?? 10) };
        var uid = Guid.NewGuid().ToString();
        var review = PodAdmissionReview.Create(uid, pod, @namespace);
        HttpResponseMessage answer;
        try
        {
            answer = await http.PostAsync(url, new StringContent(review.ToJsonString(), Encoding.UTF8, "application/json"), cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.InnerException is System.Security.Authentication.AuthenticationException auth)
        {
            throw new HttpRequestException($"x509: certificate not trusted ({auth.Message})", e);
        }

        using (answer)
        {
            var text = await answer.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (!answer.IsSuccessStatusCode)
            {
                throw new HttpRequestException($"the server responded with {(int)answer.StatusCode}: {text}");
            }

            var response = JsonNode.Parse(text)?["response"] as JsonObject ?? throw new InvalidDataException("the response has no AdmissionReview response");
            return response["uid"]?.GetValue<string>() == uid ? response : throw new InvalidDataException($"expected response.uid=\"{uid}\", got \"{response["uid"]}\"");
        }
    }
}
