using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport.Kubernetes;

/// <summary>
/// What a ServiceAccount may do under a set of RBAC objects (Roles, ClusterRoles and their
/// bindings), decided as the API server's RBAC authorizer does for resource requests: a rule
/// matches on API group, resource (or "resource/subresource"), verb and, when it lists any,
/// resourceNames; a ClusterRoleBinding grants everywhere, a RoleBinding only in its namespace.
/// </summary>
public sealed class RbacPolicy
{
    private readonly List<Grant> grants;

    private RbacPolicy(List<Grant> grants) => this.grants = grants;

    /// <summary>The policy of a ServiceAccount among rendered manifests.</summary>
    public static RbacPolicy For(IEnumerable<JsonObject> objects, string serviceAccount, string serviceAccountNamespace)
    {
        var all = objects.ToList();
        var result = new List<Grant>();
        foreach (var binding in all.Where(o => Kind(o) is "RoleBinding" or "ClusterRoleBinding"))
        {
            var subjects = binding["subjects"]?.AsArray() ?? [];
            if (!subjects.Any(s => s!["kind"]!.GetValue<string>() == "ServiceAccount" && s["name"]!.GetValue<string>() == serviceAccount && s["namespace"]?.GetValue<string>() == serviceAccountNamespace))
            {
                continue;
            }

            var bindingNamespace = Kind(binding) == "RoleBinding" ? binding["metadata"]!["namespace"]!.GetValue<string>() : null;
            var roleKind = binding["roleRef"]!["kind"]!.GetValue<string>();
            var roleName = binding["roleRef"]!["name"]!.GetValue<string>();
            var role = all.SingleOrDefault(o => Kind(o) == roleKind && o["metadata"]!["name"]!.GetValue<string>() == roleName
                    && (roleKind == "ClusterRole" || o["metadata"]!["namespace"]?.GetValue<string>() == bindingNamespace))
                ?? throw new InvalidOperationException($"{Kind(binding)} {binding["metadata"]!["name"]} refers to a missing {roleKind} {roleName}");
            foreach (var rule in role["rules"]?.AsArray() ?? [])
            {
                var names = Strings(rule!["resourceNames"]);
                foreach (var group in Strings(rule["apiGroups"]))
                {
                    foreach (var resource in Strings(rule["resources"]))
                    {
                        foreach (var verb in Strings(rule["verbs"]))
                        {
                            result.Add(new Grant(group, resource, verb, bindingNamespace, names));
                        }
                    }
                }
            }
        }

        return new RbacPolicy(result);
    }

    private bool Allows(ApiCall call) => grants.Any(g => g.Covers(call));

    /// <summary>The calls this policy refuses, each once.</summary>
    public IReadOnlyList<string> Refused(IEnumerable<ApiCall> calls) => calls.Where(c => !Allows(c)).Select(c => c.ToString()).Distinct().ToList();

    /// <summary>The grants none of the calls needed: more than least privilege.</summary>
    public IReadOnlyList<string> Unused(IReadOnlyCollection<ApiCall> calls) => grants.Where(g => !calls.Any(g.Covers)).Select(g => g.ToString()).ToList();

    private static string Kind(JsonObject o) => o["kind"]?.GetValue<string>() ?? string.Empty;

    private static IReadOnlyList<string> Strings(JsonNode? node) => node?.AsArray().Select(n => n!.GetValue<string>()).ToList() ?? [];

    /// <summary>One verb on one resource, cluster-wide (Namespace null) or in one namespace, maybe only on some names.</summary>
    public sealed record Grant(string Group, string Resource, string Verb, string? Namespace, IReadOnlyList<string> ResourceNames)
    {
        public bool Covers(ApiCall call) =>
            (Group == "*" || Group == call.Group)
            && (Resource == "*" || Resource == call.Resource)
            && (Verb == "*" || Verb == call.Verb)
            && (Namespace is null || Namespace == call.Namespace)
            && (ResourceNames.Count == 0 || (call.Name is not null && ResourceNames.Contains(call.Name)));

        public override string ToString() =>
            $"{Verb} {(Group.Length == 0 ? "core" : Group)}/{Resource}{(Namespace is null ? " cluster-wide" : $" in {Namespace}")}{(ResourceNames.Count == 0 ? string.Empty : $" named {string.Join(",", ResourceNames)}")}";
    }
}
