using System.Text.Json.Nodes;
using TorchFerry.Webhook.Mutation;

namespace TorchFerry.Webhook.Tests.Mutation;

/// <summary><c>--prepare-inputs-resources</c> and the bounds the task's own limits put on it.</summary>
public sealed class InitResourcesTests
{
    [Theory]
    [InlineData("not json", "--prepare-inputs-resources: expected {\"requests\": {\"cpu\": \"50m\", \"memory\": \"64Mi\"}, \"limits\": {\"cpu\": \"500m\", \"memory\": \"256Mi\"}} (")]
    [InlineData("""{"requests": {"cpu": "50m"}, "limits": {"cpu": "1", "memory": "1Gi"}}""", "--prepare-inputs-resources: expected {\"requests\": {\"cpu\": \"50m\", \"memory\": \"64Mi\"}, \"limits\": {\"cpu\": \"500m\", \"memory\": \"256Mi\"}}; requests.memory is missing")]
    [InlineData("""{"requests": {"cpu": "lots", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}""", "--prepare-inputs-resources requests.cpu 'lots': not a quantity")]
    [InlineData("""{"requests": {"cpu": "2", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}""", "--prepare-inputs-resources: a request is larger than its limit")]
    [InlineData("""{"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}""", "--prepare-inputs-resources: a request is larger than its limit")]
    public void Parse_Refuses_WithOneLineThatSaysWhy(string json, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => InitResources.Parse(json));

        Assert.StartsWith(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_RequestsEqualToLimits_AndNumbersAsHelmWritesThem_AreAccepted()
    {
        var resources = InitResources.Parse("""{"requests": {"cpu": 1, "memory": "1Gi"}, "limits": {"cpu": 1, "memory": "1Gi"}}""");

        Assert.Equal(new InitResources("1", "1", "1Gi", "1Gi"), resources);
    }

    [Theory]
    [InlineData("500m", "256Mi", "500m", "256Mi", "50m", "64Mi")] // task limits equal to ours: ours stand
    [InlineData("40m", "32Mi", "40m", "32Mi", "40m", "32Mi")] // smaller: the requests follow the limits down
    [InlineData("50m", "64Mi", "50m", "64Mi", "50m", "64Mi")] // a bound equal to the request keeps the request
    public void For_BoundsEachLimitByTheTasks_AndEachRequestByItsLimit(string taskCpu, string taskMemory, string cpuLimit, string memoryLimit, string cpuRequest, string memoryRequest)
    {
        var task = JsonNode.Parse($$$$"""{"name": "t", "resources": {"limits": {"cpu": "{{{{taskCpu}}}}", "memory": "{{{{taskMemory}}}}"}}}""")!.AsObject();

        var resources = InitResources.Default.For(task);

        Assert.Equal((cpuLimit, memoryLimit), (resources["limits"]!["cpu"]!.GetValue<string>(), resources["limits"]!["memory"]!.GetValue<string>()));
        Assert.Equal((cpuRequest, memoryRequest), (resources["requests"]!["cpu"]!.GetValue<string>(), resources["requests"]!["memory"]!.GetValue<string>()));
    }
}
