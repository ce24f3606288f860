namespace TorchFerry.TestSupport.Kubernetes;

/// <summary>The CRDs in config/crd, applied to an emulator as `kubectl apply -f config/crd` would: their kinds are then served with schema validation.</summary>
public static class TorchFerryCrds
{
    // Parsed once per test run: YAML goes through Python's parser.
    private static readonly Lazy<IReadOnlyList<System.Text.Json.Nodes.JsonObject>> Definitions = new(() =>
        [.. Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "config", "crd"), "*.yaml").Order(StringComparer.Ordinal).SelectMany(f => Yaml.ToJsonDocuments(File.ReadAllText(f)))]);

    /// <summary>Copies of the CustomResourceDefinitions in config/crd, in file order.</summary>
    public static IEnumerable<System.Text.Json.Nodes.JsonObject> All => Definitions.Value.Select(d => (System.Text.Json.Nodes.JsonObject)d.DeepClone());

    public static void Install(KubeApiEmulator api)
    {
        ArgumentNullException.ThrowIfNull(api);
        foreach (var crd in All)
        {
            api.CreateObject("apiextensions.k8s.io", "v1", "customresourcedefinitions", null, crd);
        }
    }
}
