using System.Text;
using System.Text.Json.Nodes;
using Serilog;
using TorchFerry.Contract;
using TorchFerry.Webhook.Mutation;
using TorchFerry.Webhook.Profiles;

namespace TorchFerry.Webhook.Admission;

/// <summary>
/// Answers admission.k8s.io/v1 AdmissionReviews for pods. Malformed reviews get 400; anything that
/// goes wrong inside is logged and counted and the pod is allowed unchanged, so the webhook never
/// blocks a pod on its own fault. It has no side effects, so dryRun requests are answered the same.
/// Logs name the pod, never its environment or secrets.
/// </summary>
internal sealed class AdmissionHandler(IDeviceProfileSource profiles, AdmissionOptions options, AdmissionMetrics metrics, ILogger log)
{
    /// <summary>The HTTP status and the body to answer with.</summary>
    public (int Status, JsonObject Body) Handle(JsonNode? body)
    {
        if (body is not JsonObject review
            || review["apiVersion"]?.GetValueKind() != System.Text.Json.JsonValueKind.String
            || review["apiVersion"]!.GetValue<string>() != "admission.k8s.io/v1"
            || review["kind"]?.ToString() != "AdmissionReview"
            || review["request"] is not JsonObject request
            || request["uid"]?.GetValueKind() != System.Text.Json.JsonValueKind.String)
        {
            metrics.Count("bad_request");
            return (400, Error("expected an admission.k8s.io/v1 AdmissionReview with a request and a uid"));
        }

        var uid = request["uid"]!.GetValue<string>();
        try
        {
            var (patch, outcome) = Decide(request);
            metrics.Count(outcome);
            var response = new JsonObject { ["uid"] = uid, ["allowed"] = true };
            if (patch is { Count: > 0 })
            {
                response["patchType"] = "JSONPatch";
                response["patch"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(patch.ToJsonString()));
            }

            return (200, Review(response));
        }
#pragma warning disable CA1031 // never block a pod on the webhook's own fault
        catch (Exception e)
#pragma warning restore CA1031
        {
            metrics.Count("internal_error");
            log.Error("Admission of {Uid:l} failed ({Error:l}: {Message:l}); allowing the pod unchanged", uid, e.GetType().Name, e.Message);
            return (200, Review(new JsonObject { ["uid"] = uid, ["allowed"] = true }));
        }
    }

    private (JsonArray? Patch, string Outcome) Decide(JsonObject request)
    {
        if (request["kind"]?["kind"]?.ToString() != "Pod" || request["operation"]?.ToString() != "CREATE" || request["object"] is not JsonObject pod)
        {
            return (null, "ignored");
        }

        var @namespace = request["namespace"]?.ToString() ?? pod["metadata"]?["namespace"]?.ToString() ?? string.Empty;
        if (@namespace == options.OwnNamespace || options.ExcludedNamespaces.Contains(@namespace))
        {
            return (null, "excluded_namespace");
        }

        var labels = (pod["metadata"]?["labels"] as JsonObject)?.ToDictionary(kv => kv.Key, kv => kv.Value?.ToString() ?? string.Empty) ?? [];
        if (!FlyteLabels.Required.All(labels.ContainsKey))
        {
            return (null, "not_flyte");
        }

        // The pod's namespace comes from the request when the object does not carry it yet.
        var profile = DeviceProfileMatcher.Best(profiles.Profiles, @namespace, labels);
        var mutation = PodMutator.Mutate(pod, profile, options.Mutation, options.InputsDeviceByNamespace.TryGetValue(@namespace, out var device) ? device : null);
        if (mutation.RefusedInputsDevice is { } problem)
        {
            metrics.Refused("inputs_device");
            log.Warning("Pod {Namespace:l}/{Pod:l}: {Problem:l}; its inputs are passed on as they are", @namespace, PodName(pod), problem);
        }

        if (mutation.IsEmpty)
        {
            return (null, "unchanged");
        }

        log.Information(
            "Mutating pod {Namespace:l}/{Pod:l} (task {Task:l}): {Applied:l}{Conflicts:l}",
            @namespace,
            PodName(pod),
            labels[FlyteLabels.TaskName],
            string.Join(",", mutation.Applied),
            mutation.Conflicts.Count > 0 ? "; kept existing " + string.Join(",", mutation.Conflicts) : string.Empty);
        return (mutation.Patch, "mutated");
    }

    private static string PodName(JsonObject pod) =>
        pod["metadata"]?["name"]?.ToString() ?? pod["metadata"]?["generateName"]?.ToString() ?? "?";

    private static JsonObject Review(JsonObject response) => new()
    {
        ["apiVersion"] = "admission.k8s.io/v1",
        ["kind"] = "AdmissionReview",
        ["response"] = response,
    };

    private static JsonObject Error(string message) => new() { ["error"] = message };
}
