using System.Diagnostics;
using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport;

/// <summary>Runs one of the python/ scripts with Debian's python3 and reads the JSON it prints: CPython (and its torch) as an oracle.</summary>
public static class PythonScript
{
    /// <summary>Runs python/<paramref name="script"/> with <paramref name="arguments"/>; fails with its stderr when it fails.</summary>
    public static JsonNode RunJson(string script, params string[] arguments)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "python", script);
        if (!File.Exists(TorchOracle.Python))
        {
            throw new InvalidOperationException($"{TorchOracle.Python} is missing: these tests need Debian's python3 with PyTorch (apt-get install -y python3-torch)");
        }

        using var python = Process.Start(new ProcessStartInfo(TorchOracle.Python, [path, .. arguments]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })
            ?? throw new InvalidOperationException("could not start python3");
        var error = python.StandardError.ReadToEndAsync();
        var output = python.StandardOutput.ReadToEnd();
        python.WaitForExit();
        return python.ExitCode == 0 ? JsonNode.Parse(output)! : throw new InvalidOperationException($"{script} failed: {error.Result}");
    }
}
