using System.Diagnostics;

namespace TorchFerry.TestSupport;

/// <summary>Helm 4 (tests/tools/bin/helm, installed by scripts/install-test-deps.sh) run on the chart in charts/torchferry.</summary>
public static class Helm
{
    /// <summary>The image repository chart renders use unless a test sets <c>image.repository</c> itself.</summary>
    public const string TestImageRepository = "registry.test/torchferry";

    /// <summary>The chart folder.</summary>
    public static string Chart { get; } = System.IO.Path.Combine(RepositoryPaths.Root, "charts", "torchferry");

    /// <summary>The helm binary; a clear error when it is missing.</summary>
    public static string Path
    {
        get
        {
            var path = System.IO.Path.Combine(RepositoryPaths.Tools, "bin", "helm");
            return File.Exists(path) ? path : throw new InvalidOperationException($"helm is missing at {path}: run scripts/install-test-deps.sh");
        }
    }

    /// <summary>Runs helm with the arguments; its exit code, standard output and standard error.</summary>
    public static (int ExitCode, string Output, string Error) Run(params string[] args)
    {
        // The chart requires an image (none is published); tests render with this one unless they set their own.
        if (args is ["template" or "lint" or "install" or "upgrade", ..] && !args.Any(a => a.StartsWith("image.repository=", StringComparison.Ordinal)))
        {
            args = [args[0], "--set", $"image.repository={TestImageRepository}", .. args[1..]];
        }

        var start = new ProcessStartInfo(Path, args) { RedirectStandardOutput = true, RedirectStandardError = true };

        // Keep helm's caches and config out of the user's home.
        var home = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "torchferry-helm-home");
        start.Environment["HELM_CACHE_HOME"] = System.IO.Path.Combine(home, "cache");
        start.Environment["HELM_CONFIG_HOME"] = System.IO.Path.Combine(home, "config");
        start.Environment["HELM_DATA_HOME"] = System.IO.Path.Combine(home, "data");
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output, error.Result);
    }

    /// <summary>`helm template` of the chart with extra arguments (`--set`, `-f`, ...); throws with helm's message when it fails.</summary>
    public static RenderedChart Template(string release, string @namespace, params string[] extra)
    {
        var (code, output, error) = Run(["template", release, Chart, "--namespace", @namespace, .. extra]);
        if (code != 0)
        {
            throw new InvalidOperationException($"helm template failed ({code}): {error}");
        }

        return new RenderedChart(release, @namespace, Yaml.ToJsonDocuments(output));
    }
}
