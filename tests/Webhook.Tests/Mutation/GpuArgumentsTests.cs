using System.Text.Json.Nodes;
using TorchFerry.Webhook.Mutation;

namespace TorchFerry.Webhook.Tests.Mutation;

/// <summary>The webhook's GPU flags, as flytepropeller's k8s plugin settings would be given to it.</summary>
public sealed class GpuArgumentsTests
{
    [Fact]
    public void NoFlags_ArePropellersDefaults_WithTheGpuTaintTolerated()
    {
        var settings = GpuArguments.Parse(null, null, null, null);

        Assert.Equal(("nvidia.com/gpu", "k8s.amazonaws.com/accelerator", "k8s.amazonaws.com/gpu-partition-size"), (settings.ResourceName, settings.DeviceNodeLabel, settings.PartitionSizeNodeLabel));
        var toleration = Assert.Single(settings.Tolerations);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"}"""), toleration), toleration.ToJsonString());
    }

    [Fact]
    public void EachFlag_ReplacesItsDefaultOnly()
    {
        var settings = GpuArguments.Parse("amd.com/gpu", "cloud.google.com/gke-accelerator", "example.com/partition", """[{"key":"amd.com/gpu","operator":"Exists"}]""");

        Assert.Equal(("amd.com/gpu", "cloud.google.com/gke-accelerator", "example.com/partition"), (settings.ResourceName, settings.DeviceNodeLabel, settings.PartitionSizeNodeLabel));
        Assert.Equal("amd.com/gpu", Assert.Single(settings.Tolerations)["key"]!.GetValue<string>());
        Assert.Equal("k8s.amazonaws.com/gpu-partition-size", GpuArguments.Parse(null, null, null, null).PartitionSizeNodeLabel);
    }

    [Theory]
    [InlineData(0, "--gpu-resource-name 'nvidia.com/gpu!': not a qualified name (prefix/name, e.g. nvidia.com/gpu)")]
    [InlineData(1, "--gpu-device-node-label 'nvidia.com/gpu!': not a qualified name (prefix/name, e.g. nvidia.com/gpu)")]
    [InlineData(2, "--gpu-partition-size-node-label 'nvidia.com/gpu!': not a qualified name (prefix/name, e.g. nvidia.com/gpu)")]
    public void NameThatIsNotQualified_StopsTheWebhookNamingTheFlag(int which, string expected)
    {
        string?[] names = [null, null, null];
        names[which] = "nvidia.com/gpu!";

        var error = Assert.Throws<ArgumentException>(() => GpuArguments.Parse(names[0], names[1], names[2], null));

        Assert.Equal(expected, error.Message);
    }

    [Theory]
    [InlineData("not json", "--gpu-tolerations: expected a JSON array of tolerations (")]
    [InlineData("""{"key":"nvidia.com/gpu"}""", "--gpu-tolerations: expected a JSON array of tolerations, e.g. ")]
    [InlineData("""[{"key":"nvidia.com/gpu","operator":5}]""", "--gpu-tolerations: expected a JSON array of tolerations, e.g. ")]
    [InlineData("""["nvidia.com/gpu"]""", "--gpu-tolerations: expected a JSON array of tolerations, e.g. ")]
    public void TolerationsThatAreNotAnArrayOfTolerations_StopTheWebhook(string json, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => GpuArguments.Parse(null, null, null, json));

        Assert.StartsWith(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("nvidia.com/gpu", true)]
    [InlineData("nvidia.com/mig-1g.10gb", true)]
    [InlineData("amd.com/gpu", true)] // the configured resource name
    [InlineData("cpu", false)]
    [InlineData("nvidia.com/gpu.shared", false)]
    public void IsGpu_KnowsWholeGpusSlicesAndTheConfiguredResource(string resource, bool gpu) =>
        Assert.Equal(gpu, GpuArguments.Parse("amd.com/gpu", null, null, null).IsGpu(resource));
}
