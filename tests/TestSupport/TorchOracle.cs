using System.Diagnostics;
using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport;

/// <summary>
/// Debian's PyTorch as a test peer: one long-lived <c>/usr/bin/python3</c> process running
/// <c>python/torch_oracle.py</c>, asked one JSON line at a time. It makes GPU-tagged fixtures,
/// loads results the way users do and compares them with the objects it saved.
/// </summary>
public sealed class TorchOracle : IDisposable
{
    public const string Python = "/usr/bin/python3";
    private readonly Process process;
    private readonly Lock gate = new();

    public TorchOracle()
    {
        var script = Path.Combine(AppContext.BaseDirectory, "python", "torch_oracle.py");
        if (!File.Exists(Python))
        {
            throw new InvalidOperationException($"{Python} is missing: these tests need Debian's Python with PyTorch (apt-get install -y python3-torch)");
        }

        process = Process.Start(new ProcessStartInfo(Python, [script])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("could not start python3");
        var ready = process.StandardOutput.ReadLine();
        if (ready is null || !ready.Contains("ready", StringComparison.Ordinal))
        {
            var error = process.StandardError.ReadToEnd();
            throw new InvalidOperationException(
                $"PyTorch is not usable from {Python} (apt-get install -y python3-torch): {error.Trim()}");
        }

        Version = JsonNode.Parse(ready)!["ready"]!.GetValue<string>();
    }

    /// <summary>The torch version the oracle runs.</summary>
    public string Version { get; }

    /// <summary>Builds fixture <paramref name="fixtureCase"/> and saves it to <paramref name="path"/> as if on <paramref name="location"/>.</summary>
    public void Make(string fixtureCase, string path, string location = "cuda:0", bool constantTagger = false) =>
        Ask(new JsonObject { ["cmd"] = "make", ["case"] = fixtureCase, ["path"] = path, ["location"] = location, ["tagger"] = constantTagger ? "constant" : "fresh" });

    /// <summary>The error <c>torch.load(path)</c> raises without map_location (with <c>weights_only=True</c> if asked), or null when it loads.</summary>
    public string? LoadError(string path, bool weightsOnly = false) =>
        Ask(new JsonObject { ["cmd"] = "load_error", ["path"] = path, ["weights_only"] = weightsOnly })["error"]?.GetValue<string>();

    /// <summary>
    /// Loads <paramref name="path"/> without map_location (with <c>weights_only=True</c> if asked) and lists how it
    /// differs from the saved fixture, or with <paramref name="plain"/> from the plain values its user objects hold.
    /// </summary>
    public (int Tensors, IReadOnlyList<string> Problems) Compare(string fixtureCase, string path, bool weightsOnly = false, bool plain = false)
    {
        var answer = Ask(new JsonObject { ["cmd"] = "compare", ["case"] = fixtureCase, ["path"] = path, ["weights_only"] = weightsOnly, ["plain"] = plain });
        var problems = answer["problems"]!.AsArray().Select(p => p!.GetValue<string>()).ToList();
        return (answer["tensors"]!.GetValue<int>(), problems);
    }

    /// <summary>The tensors torch sees in <paramref name="path"/> (loaded to the CPU), with recorded locations.</summary>
    public JsonArray Describe(string path) => Ask(new JsonObject { ["cmd"] = "describe", ["path"] = path })["tensors"]!.AsArray();

    /// <summary>The location torch's own unpickler hands map_location for each storage of <paramref name="path"/>, sorted: PyTorch's verdict on where a file's storages live.</summary>
    public IReadOnlyList<string> Locations(string path) =>
        [.. Ask(new JsonObject { ["cmd"] = "describe", ["path"] = path })["locations"]!.AsArray().Select(l => l!.GetValue<string>())];

    /// <summary>The globals this torch's weights_only loader allows (<c>_get_allowed_globals()</c>), sorted.</summary>
    public IReadOnlyList<string> WeightsOnlyGlobals() =>
        [.. Ask(new JsonObject { ["cmd"] = "weights_only_globals" })["globals"]!.AsArray().Select(g => g!.GetValue<string>())];

    public void Dispose()
    {
        try
        {
            process.StandardInput.Close();
            if (!process.WaitForExit(5000))
            {
                process.Kill();
            }
        }
        finally
        {
            process.Dispose();
        }
    }

    private JsonNode Ask(JsonObject request)
    {
        lock (gate)
        {
            process.StandardInput.WriteLine(request.ToJsonString());
            process.StandardInput.Flush();
            var line = process.StandardOutput.ReadLine()
                ?? throw new InvalidOperationException($"the torch oracle exited: {process.StandardError.ReadToEnd()}");
            var answer = JsonNode.Parse(line)!;
            if (answer["failure"] is { } failure)
            {
                throw new InvalidOperationException($"torch oracle failed on {request.ToJsonString()}: {failure.GetValue<string>()}");
            }

            return answer;
        }
    }
}
