using TorchFerry.TestSupport;

namespace TorchFerry.Chart.Tests;

/// <summary>NOTES.txt: how to check the install, and a first DeviceProfile that the CRD accepts.</summary>
public sealed class NotesTests
{
    [Fact]
    public void Notes_NameTheDeploymentsAndLease_AndTheirDeviceProfileIsValid()
    {
        var (code, output, error) = Helm.Run("install", "prod", Helm.Chart, "--namespace", "ml-platform", "--dry-run=client");
        Assert.True(code == 0, error);
        var notes = output[output.IndexOf("NOTES:", StringComparison.Ordinal)..];

        Assert.Contains("rollout status deploy/prod-torchferry-operator", notes, StringComparison.Ordinal);
        Assert.Contains("rollout status deploy/prod-torchferry-webhook", notes, StringComparison.Ordinal);
        Assert.Contains("get lease prod-torchferry-operator", notes, StringComparison.Ordinal);
        Assert.Contains("every artifact is refused", notes, StringComparison.Ordinal);

        var lines = notes.Split('\n');
        var start = Array.FindIndex(lines, l => l.Trim() == "apiVersion: torchferry.io/v1alpha1");
        var end = Array.FindIndex(lines, start, l => l.Trim().Length == 0);
        var indent = lines[start].Length - lines[start].TrimStart().Length;
        using var folder = new TemporaryDirectory();
        var profile = folder.File("deviceprofile.yaml");
        File.WriteAllLines(profile, lines[start..end].Select(l => l[indent..]));
        Assert.Equal("DeviceProfile", TestSupport.Yaml.ToJsonDocuments(File.ReadAllText(profile)).Single()["kind"]!.GetValue<string>());
        Assert.Empty(CrdCheck.Validate(Path.Combine(Helm.Chart, "crds"), profile));
    }
}
