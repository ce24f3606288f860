using System.Diagnostics;
using System.Text.Json.Nodes;
using Xunit;

namespace TorchFerry.TestSupport;

/// <summary>CRD manifests read by Python's YAML parser and checked by its JSON Schema validator (python/crd_check.py, Debian packages).</summary>
public static class CrdCheck
{
    /// <summary>Whether the YAML file parses to the same tree as the JSON file.</summary>
    public static bool RoundTrips(string yamlFile, string jsonFile) => Run("roundtrip", yamlFile, jsonFile)["equal"]!.GetValue<bool>();

    /// <summary>Schema errors of every document in <paramref name="sample"/> against the CRDs in <paramref name="crdFolder"/>.</summary>
    public static IReadOnlyList<string> Validate(string crdFolder, string sample) =>
        Run("validate", crdFolder, sample)["errors"]!.AsArray().Select(e => e!.GetValue<string>()).ToList();

    private static JsonNode Run(params string[] args)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "python", "crd_check.py");
        using var process = Process.Start(new ProcessStartInfo(TorchOracle.Python, [script, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"crd_check.py failed (needs Debian's python3-yaml and python3-jsonschema): {error.Result}");
        return JsonNode.Parse(output)!;
    }
}
