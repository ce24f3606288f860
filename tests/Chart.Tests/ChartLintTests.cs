using TorchFerry.TestSupport;

namespace TorchFerry.Chart.Tests;

/// <summary>`helm lint --strict` on the chart, and its CRDs kept the same as config/crd.</summary>
public sealed class ChartLintTests
{
    [Theory]
    [InlineData]
    [InlineData("--set", "certificates.certManager.enabled=true")]
    [InlineData("--set", "operator.watchNamespace=flytesnacks-development", "--set", "fullnameOverride=ferry")]
    [InlineData("--set", "operator.replicas=1", "--set", "operator.leaderElection=false", "--set", "webhook.replicas=1")]
    public void Lint_Strict_Passes(params string[] values)
    {
        var (code, output, error) = Helm.Run(["lint", "--strict", Helm.Chart, .. values]);

        Assert.True(code == 0, output + error);
        Assert.Contains("0 chart(s) failed", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Crds_AreTheGeneratedFilesInConfigCrd()
    {
        var generated = Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "config", "crd"), "*.yaml").Select(Path.GetFileName).Order().ToList();
        var charted = Directory.GetFiles(Path.Combine(Helm.Chart, "crds"), "*.yaml").Select(Path.GetFileName).Order().ToList();

        Assert.Equal(generated, charted);
        Assert.All(generated, file => Assert.True(
            File.ReadAllBytes(Path.Combine(RepositoryPaths.Root, "config", "crd", file!)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(Helm.Chart, "crds", file!))),
            $"charts/torchferry/crds/{file} differs from config/crd/{file}: regenerate both (TORCHFERRY_UPDATE_CRDS=1 dotnet test tests/Types.Tests --filter CommittedCrd)"));
    }

    [Fact]
    public void Template_IncludesTheCrds_AndInstallsThemBeforeEverythingElse()
    {
        var (code, output, error) = Helm.Run("template", "torchferry", Helm.Chart, "--include-crds");

        Assert.True(code == 0, error);
        var kinds = TestSupport.Yaml.ToJsonDocuments(output).Select(o => o["kind"]!.GetValue<string>()).ToList();
        Assert.Equal(3, kinds.TakeWhile(k => k == "CustomResourceDefinition").Count());
    }
}
