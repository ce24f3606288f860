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
    public void Create_NotLocationSyntax_IsRefused(string device)
    {
        Assert.Throws<ArgumentException>(() => DeviceMap.Create(device));
        Assert.Throws<ArgumentException>(() => DeviceMap.Create(null, new Dictionary<string, string> { [device] = "cpu" }));
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
        Assert.Throws<ArgumentException>(() => DeviceMap.Create(null, new Dictionary<string, string>()));
    }
}
