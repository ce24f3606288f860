namespace TorchFerry.TestSupport.Kubernetes;

/// <summary>
/// One request to the API server as RBAC sees it: who made it (the bearer token), the verb
/// (get, list, watch, create, update, patch, delete, deletecollection), the API group, the resource
/// (with "/status" for the subresource), the namespace (null when cluster-wide) and the object name.
/// </summary>
public sealed record ApiCall(string? User, string Verb, string Group, string Resource, string? Namespace, string? Name)
{
    /// <summary>The RBAC verb of an HTTP method on a collection (no name) or an object.</summary>
    public static string VerbOf(string method, bool named, bool watch) => (method, named) switch
    {
        ("GET", false) => watch ? "watch" : "list",
        ("GET", true) => watch ? "watch" : "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", false) => "deletecollection",
        ("DELETE", true) => "delete",
        _ => method.ToLowerInvariant(),
    };

    public override string ToString() =>
        $"{Verb} {(Group.Length == 0 ? "core" : Group)}/{Resource}{(Namespace is null ? string.Empty : $" in {Namespace}")}{(Name is null ? string.Empty : $" named {Name}")}";
}
