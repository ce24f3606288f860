using TorchFerry.Format.Conversion;

namespace TorchFerry.Format.Tests.Conversion;

public sealed class DeviceMapTests
{
    [Fact]
    public void Map_DeviceOnly_SendsEveryLocationThere()
    {
        var map = DeviceMap.Create("cpu");

        Assert.Equal(["cpu", "cpu", "cpu"], new[] { "cuda:0", "cuda:7", "cpu" }.Select(map.Map));
    }

    [Fact]
    public void Map_MappingOnly_LeavesOtherLocationsAlone()
    {
        var map = DeviceMap.Create(null, new Dictionary<string, string> { ["cuda:1"] = "cuda:0" });

        Assert.Equal(["cuda:0", "cuda:0", "cpu"], new[] { "cuda:1", "cuda:0", "cpu" }.Select(map.Map));
    }

    [Fact]
    public void Map_MappingAndDevice_MappingWinsDeviceTakesTheRest()
    {
        var map = DeviceMap.Create("cpu", new Dictionary<string, string> { ["cuda:1"] = "cuda:0" });

        Assert.Equal(["cuda:0", "cpu"], new[] { "cuda:1", "cuda:2" }.Select(map.Map));
        Assert.Equal("cuda:1=cuda:0, else cpu", map.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("cuda:")]
    [InlineData("CPU")]
    [InlineData("cuda:0 ")]
    [InlineData("cuda\u001b[2J")]
    public void Create_NotLocationSyntax_IsRefusedInOneLineNamingIt(string device)
    {
        var shown = device.Replace("\u001b", "\\u001b", StringComparison.Ordinal); // a terminal escape is shown, not sent
        Assert.StartsWith($"device '{shown}': not a torch location", Assert.Throws<ArgumentException>(() => DeviceMap.Create(device)).Message, StringComparison.Ordinal);
        Assert.StartsWith(
            $"mapping '{shown}=cpu': not torch locations",
            Assert.Throws<ArgumentException>(() => DeviceMap.Create(null, new Dictionary<string, string> { [device] = "cpu" })).Message,
            StringComparison.Ordinal);
        Assert.StartsWith(
            $"mapping 'cpu={shown}': not torch locations",
            Assert.Throws<ArgumentException>(() => DeviceMap.Create(null, new Dictionary<string, string> { ["cpu"] = device })).Message,
            StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mps")]
    [InlineData("privateuseone:3")]
    public void Create_OtherTorchLocations_AreTheCallersPolicy(string location)
    {
        Assert.Equal("cpu", DeviceMap.Create(null, new Dictionary<string, string> { [location] = "cpu" }).Map(location));
    }

    [Fact]
    public void Create_Nothing_AsksForADevice()
    {
        Assert.StartsWith("say where storages go: a device and/or a mapping", Assert.Throws<ArgumentException>(() => DeviceMap.Create(null, new Dictionary<string, string>())).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToString_ListsEachMappingThenTheDevice()
    {
        var map = DeviceMap.Create("cpu", new Dictionary<string, string> { ["cuda:1"] = "cuda:0", ["cuda:2"] = "cuda:0" });

        Assert.Equal("cuda:1=cuda:0, cuda:2=cuda:0, else cpu", map.ToString());
    }
}
