using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using TorchFerry.TestSupport;

namespace TorchFerry.Chart.Tests;

/// <summary>
/// The image as the Dockerfile builds it (scripts/publish.sh into /app, which test.sh also runs into
/// artifacts/image/app) holds what the chart runs: each Deployment's command and the entry point the
/// webhook's init container relies on exist there and start.
/// </summary>
public sealed partial class ImageLayoutTests
{
    private static readonly string Dockerfile = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "Dockerfile"));

    private static string Published
    {
        get
        {
            var folder = PublishedImage.App;
            return Directory.Exists(folder) ? folder : throw new InvalidOperationException($"{folder} is missing: run scripts/publish.sh artifacts/image/app (test.sh does)");
        }
    }

    [Fact]
    public void Dockerfile_PublishesWithTheTestedScript_IntoApp_AndRunsAsNonRoot()
    {
        Assert.Matches(@"RUN [^\n]*\\\n\s+scripts/publish\.sh /app ", Dockerfile);
        Assert.Contains("COPY --from=build /app /app", Dockerfile, StringComparison.Ordinal);
        var user = UserLine().Match(Dockerfile);
        Assert.True(user.Success, "the Dockerfile sets no numeric USER");
        var chart = Helm.Template("torchferry", "torchferry-system");
        Assert.Equal(int.Parse(user.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), chart.Deployment("operator")["spec"]!["template"]!["spec"]!["securityContext"]!["runAsUser"]!.GetValue<int>());
    }

    [Fact]
    public void Dockerfile_CopiesEveryFileTheBuildReads()
    {
        var copied = CopyLines().Matches(Dockerfile).SelectMany(m => m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1]).ToHashSet();
        var buildInputs = new[] { ".editorconfig", "Directory.Build.props", "Directory.Packages.props", "global.json", "NuGet.config", "nuget.config" }
            .Where(f => File.Exists(Path.Combine(RepositoryPaths.Root, f)));

        Assert.Superset(buildInputs.ToHashSet(), copied);
        Assert.Contains("src/", copied);
        Assert.Contains("scripts/publish.sh", copied);
        Assert.Contains("scripts/install-cross-toolchain.sh", copied);
        Assert.Contains("config/crd/", copied); // embedded in torchferry (Cli.csproj)
    }

    [Fact]
    public void Dockerfile_BuildsOnAnSdkThatCompilesNatively_WithTheTargetsToolchain()
    {
        // The CLI links with clang and zlib: the plain SDK image has neither.
        Assert.Matches(@"(?m)^FROM --platform=\$BUILDPLATFORM mcr\.microsoft\.com/dotnet/sdk:10\.0-noble-aot AS build$", Dockerfile);
        Assert.Matches(@"(?m)^RUN scripts/install-cross-toolchain\.sh ""\$BUILDARCH"" ""\$TARGETARCH""$", Dockerfile);
    }

    [Fact]
    public void Cli_IsOneNativeExecutable_ThatRunsWithoutADotnetRuntime()
    {
        var folder = Path.Combine(Published, "cli");
        Assert.Equal(["torchferry"], Directory.GetFileSystemEntries(folder).Select(Path.GetFileName));
        var head = new byte[4];
        using (var file = File.OpenRead(Path.Combine(folder, "torchferry")))
        {
            file.ReadExactly(head);
        }

        Assert.Equal("\u007fELF"u8.ToArray(), head);

        // Nothing of .NET on its way: no DOTNET_ROOT, no dotnet on PATH.
        var start = new ProcessStartInfo(Path.Combine(folder, "torchferry"), ["--version"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment.Clear();
        start.Environment["PATH"] = "/nonexistent";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"torchferry --version exited {process.ExitCode}: {error}");
        Assert.Matches(@"^\d+\.\d+\.\d+", output);
    }

    [Theory]
    [InlineData("operator")]
    [InlineData("webhook")]
    public void ChartCommand_ExistsInTheImage_AndStarts(string component)
    {
        var command = Helm.Template("torchferry", "torchferry-system").Deployment(component)["spec"]!["template"]!["spec"]!["containers"]![0]!["command"]!.AsArray().Select(c => c!.GetValue<string>()).ToList();

        Assert.Single(command);
        AssertStarts(command[0]);
    }

    [Fact]
    public void EntryPoint_IsTorchferry_AsTheWebhooksInitContainerExpects()
    {
        var entry = JsonNode.Parse(EntryPointLine().Match(Dockerfile).Groups[1].Value)!.AsArray().Select(e => e!.GetValue<string>()).ToList();

        Assert.Equal("/app/cli/torchferry", Assert.Single(entry));
        var help = AssertStarts(entry[0]);
        Assert.Contains("prepare-inputs", help, StringComparison.Ordinal);
    }

    [Fact]
    public void HelmTest_RunsThePrepareInputsImagesEntryPoint_WhichAnswers()
    {
        // `helm test` pulls and starts the init container's image: a task would otherwise stay Initializing on a bad one.
        var chart = Helm.Template("torchferry", "torchferry-system", "--set", "prepareInputs.image=registry.local/torchferry:9");
        var test = chart.OfKind("Pod").Single(p => p["metadata"]!["annotations"]?["helm.sh/hook"]?.GetValue<string>() == "test");
        var container = test["spec"]!["containers"]![0]!;

        Assert.Equal("registry.local/torchferry:9", container["image"]!.GetValue<string>());
        var args = container["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToArray();
        var entry = JsonNode.Parse(EntryPointLine().Match(Dockerfile).Groups[1].Value)![0]!.GetValue<string>();
        Assert.Matches(@"^\d+\.\d+\.\d+", AssertStarts(entry, args));
    }

    [Fact]
    public void OperatorDefaultTtl_ReachesTheBinary_WhichRefusesAMalformedOneInOneLine()
    {
        var chart = Helm.Template("torchferry", "torchferry-system", "--set", "operator.defaultTtlAfterUnused=168h");
        Assert.Equal("168h", chart.Arguments("operator")["--default-ttl-after-unused"]);

        // What the chart's schema lets through, the binary parses; what gets past both (a hand-edited Deployment) is refused at start.
        var (exitCode, error) = RunPublished(Path.Combine("operator", "torchferry-operator"), "--default-ttl-after-unused=7d", "--no-leader-election");
        Assert.Equal(2, exitCode);
        Assert.Contains("--default-ttl-after-unused must be a duration such as 168h or 90m, not '7d'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void VariantPrefix_ReachesTheOperatorAndTheWebhook_WhichRefuseAMalformedOneInOneLine()
    {
        var chart = Helm.Template("torchferry", "torchferry-system", "--set", "variants.prefix=torchferry-variants/");
        Assert.Equal("torchferry-variants/", chart.Arguments("operator")["--variant-prefix"]);
        Assert.Equal("torchferry-variants/", chart.Arguments("webhook")["--variant-prefix"]);
        Assert.DoesNotContain("--variant-prefix", Helm.Template("torchferry", "torchferry-system").Arguments("operator").Keys);

        foreach (var (binary, required) in new[] { (Path.Combine("operator", "torchferry-operator"), "--no-leader-election"), (Path.Combine("webhook", "torchferry-webhook"), "--prepare-inputs-image=x") })
        {
            var (exitCode, error) = RunPublished(binary, "--variant-prefix=../team-b", required);
            Assert.Equal(2, exitCode);
            Assert.Contains("--variant-prefix: variant prefix '../team-b' must be path segments", error, StringComparison.Ordinal);
        }
    }

    // A published binary run to its end, as the image would start it; its exit code and standard error.
    private static (int ExitCode, string Error) RunPublished(string binary, params string[] args)
    {
        var start = new ProcessStartInfo(Path.Combine(Published, binary), args) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["DOTNET_ROOT"] = Path.GetFullPath(Path.Combine(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, error.Result);
    }

    private static string AssertStarts(string imagePath, params string[] args)
    {
        Assert.StartsWith("/app/", imagePath, StringComparison.Ordinal);
        var local = Path.Combine(Published, imagePath["/app/".Length..]);
        Assert.True(File.Exists(local), $"{imagePath} is not in the published image layout ({local})");
        var start = new ProcessStartInfo(local, args.Length == 0 ? ["--help"] : args) { RedirectStandardOutput = true, RedirectStandardError = true };

        // The app host finds the runtime the tests run on (<root>/shared/Microsoft.NETCore.App/<version>/), as the image's finds its own.
        start.Environment["DOTNET_ROOT"] = Path.GetFullPath(Path.Combine(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{imagePath} {string.Join(' ', start.ArgumentList)} exited {process.ExitCode}: {error}");
        return output;
    }

    [GeneratedRegex(@"^USER (\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex UserLine();

    [GeneratedRegex(@"^COPY (?!--from)(.+)$", RegexOptions.Multiline)]
    private static partial Regex CopyLines();

    [GeneratedRegex(@"^ENTRYPOINT (\[.*\])\s*$", RegexOptions.Multiline)]
    private static partial Regex EntryPointLine();
}
