using System.Globalization;
using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport.Kubernetes.Admission;

/// <summary>
/// The ResourceQuota admission plugin for pods, after mutating webhooks: where a quota names a compute
/// resource, every container and init container must set it (403 "must specify"), and the pod's
/// effective usage (the larger of the biggest init container and the sum of the containers) added to
/// that of the namespace's running pods must stay within the hard limit (403 "exceeded quota").
/// </summary>
internal static class QuotaAdmission
{
    private static readonly string[] Compute = ["limits.cpu", "limits.memory", "requests.cpu", "requests.memory", "cpu", "memory"];

    public static void Admit(JsonObject pod, IEnumerable<JsonObject> quotas, IEnumerable<JsonObject> podsInNamespace)
    {
        if (!quotas.Any())
        {
            return; // no quota, nothing to count (a namespace of 100,000 pods is not walked per create)
        }

        var name = pod["metadata"]?["name"]?.GetValue<string>() ?? string.Empty;
        var spec = pod["spec"]!.AsObject();
        var running = podsInNamespace.Where(p => p["status"]?["phase"]?.GetValue<string>() is not ("Succeeded" or "Failed")).ToList();
        foreach (var quota in quotas)
        {
            var quotaName = quota["metadata"]!["name"]!.GetValue<string>();
            if (quota["spec"]?["hard"] is not JsonObject hard)
            {
                continue;
            }

            var missing = new List<string>();
            foreach (var resource in Compute.Where(hard.ContainsKey))
            {
                var lacking = PodDefaults.Containers(spec).Where(c => Value(c, resource) is null).Select(c => c["name"]!.GetValue<string>()).ToList();
                if (lacking.Count > 0)
                {
                    missing.Add($"{resource} for: {string.Join(",", lacking)}");
                }
            }

            if (missing.Count > 0)
            {
                throw new ApiError(403, "Forbidden", $"pods \"{name}\" is forbidden: failed quota: {quotaName}: must specify {string.Join("; ", missing)}");
            }

            foreach (var (resource, limit) in hard)
            {
                var limited = Quantity.Parse(limit!.ToString());
                decimal Usage(JsonObject p) => resource == "pods" ? 1 : Compute.Contains(resource) ? Effective(p["spec"]!.AsObject(), resource) : 0;
                var used = running.Sum(Usage);
                var requested = Usage(pod);
                if (requested > 0 && used + requested > limited)
                {
                    throw new ApiError(403, "Forbidden", string.Create(CultureInfo.InvariantCulture, $"pods \"{name}\" is forbidden: exceeded quota: {quotaName}, requested: {resource}={requested}, used: {resource}={used}, limited: {resource}={limit}"));
                }
            }
        }
    }

    private static decimal Effective(JsonObject spec, string resource)
    {
        var init = ((spec["initContainers"] as JsonArray) ?? []).OfType<JsonObject>().Select(c => Value(c, resource) ?? 0).DefaultIfEmpty(0).Max();
        var containers = ((spec["containers"] as JsonArray) ?? []).OfType<JsonObject>().Sum(c => Value(c, resource) ?? 0);
        return Math.Max(init, containers);
    }

    private static decimal? Value(JsonObject container, string resource)
    {
        var (kind, name) = resource.StartsWith("limits.", StringComparison.Ordinal) ? ("limits", resource["limits.".Length..])
            : resource.StartsWith("requests.", StringComparison.Ordinal) ? ("requests", resource["requests.".Length..])
            : ("requests", resource);
        return container["resources"]?[kind]?[name]?.ToString() is { } text ? Quantity.Parse(text) : null;
    }
}
