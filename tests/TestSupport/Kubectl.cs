using System.Diagnostics;
using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport;

/// <summary>kubectl (the machine's, else tests/tools/bin/kubectl) for what Kubernetes' own code should do.</summary>
public static class Kubectl
{
    public static string Path
    {
        get
        {
            var candidates = new[] { "/usr/bin/kubectl", "/usr/local/bin/kubectl", System.IO.Path.Combine(RepositoryPaths.Tools, "bin", "kubectl") };
            return candidates.FirstOrDefault(File.Exists)
                ?? throw new InvalidOperationException("kubectl is missing: run scripts/install-test-deps.sh");
        }
    }

    /// <summary>Applies an RFC 6902 patch to a pod with <c>kubectl patch --local</c> (Kubernetes' own patch code, no server).</summary>
    public static JsonObject PatchLocally(JsonObject pod, JsonArray patch)
    {
        var file = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"pod-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, pod.ToJsonString());
        try
        {
            using var process = Process.Start(new ProcessStartInfo(Path, ["patch", "--local", "-f", file, "--type", "json", "-p", patch.ToJsonString(), "-o", "json"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            var output = process.StandardOutput.ReadToEnd();
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0
                ? JsonNode.Parse(output)!.AsObject()
                : throw new InvalidOperationException($"kubectl patch failed: {error}\npatch: {patch.ToJsonString()}");
        }
        finally
        {
            File.Delete(file);
        }
    }
}
