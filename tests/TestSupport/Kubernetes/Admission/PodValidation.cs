using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace TorchFerry.TestSupport.Kubernetes.Admission;

/// <summary>
/// The parts of the API server's pod validation (pkg/apis/core/validation) a webhook's patch can
/// break: container names unique across init and regular containers and DNS labels, an image on
/// every container, every volume mount naming a volume of the pod, volume names unique.
/// </summary>
internal static partial class PodValidation
{
    public static IReadOnlyList<string> Problems(JsonObject pod)
    {
        var problems = new List<string>();
        var spec = pod["spec"]!.AsObject();
        if (spec["containers"] is not JsonArray { Count: > 0 })
        {
            problems.Add("spec.containers: Required value");
        }

        var volumes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (volume, i) in ((spec["volumes"] as JsonArray) ?? []).Select((v, i) => (v, i)))
        {
            var name = volume?["name"]?.GetValue<string>() ?? string.Empty;
            if (!volumes.Add(name))
            {
                problems.Add($"spec.volumes[{i}].name: Duplicate value: \"{name}\"");
            }
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var field in new[] { "initContainers", "containers" })
        {
            foreach (var (container, i) in ((spec[field] as JsonArray) ?? []).Select((c, i) => (c!.AsObject(), i)))
            {
                var path = $"spec.{field}[{i}]";
                var name = container["name"]?.GetValue<string>() ?? string.Empty;
                if (!DnsLabel().IsMatch(name))
                {
                    problems.Add($"{path}.name: Invalid value: \"{name}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'");
                }
                else if (!names.Add(name))
                {
                    problems.Add($"{path}.name: Duplicate value: \"{name}\"");
                }

                if (string.IsNullOrEmpty(container["image"]?.GetValue<string>()))
                {
                    problems.Add($"{path}.image: Required value");
                }

                foreach (var (mount, j) in ((container["volumeMounts"] as JsonArray) ?? []).Select((m, j) => (m, j)))
                {
                    var volume = mount?["name"]?.GetValue<string>() ?? string.Empty;
                    if (!volumes.Contains(volume))
                    {
                        problems.Add($"{path}.volumeMounts[{j}].name: Not found: \"{volume}\"");
                    }
                }
            }
        }

        return problems;
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();
}
