using System.Diagnostics;
using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport;

/// <summary>Reads YAML with Debian's python3-yaml (a real YAML 1.1 parser, as Kubernetes tooling reads it).</summary>
public static class Yaml
{
    /// <summary>Every non-empty document of a YAML stream, as JSON objects.</summary>
    public static IReadOnlyList<JsonObject> ToJsonDocuments(string yaml)
    {
        const string Script = "import json, sys, yaml\njson.dump([d for d in yaml.safe_load_all(sys.stdin) if d is not None], sys.stdout)";
        using var process = Process.Start(new ProcessStartInfo(TorchOracle.Python, ["-c", Script])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        }) ?? throw new InvalidOperationException($"{TorchOracle.Python} is missing: run scripts/install-test-deps.sh");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(yaml);
        process.StandardInput.Close();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"YAML did not parse (needs Debian's python3-yaml): {error.Result}");
        }

        return JsonNode.Parse(output.Result)!.AsArray().Select(d => d!.AsObject()).ToList();
    }
}
