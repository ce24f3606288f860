using TorchFerry.Conversion;

namespace TorchFerry.Tests.Conversion;

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
        var map = DeviceMap.Create(null, ["cuda:1=cuda:0"]);

        Assert.Equal(["cuda:0", "cuda:0", "cpu"], new[] { "cuda:1", "cuda:0", "cpu" }.Select(map.Map));
    }

    [Fact]
    public void Map_MappingAndDevice_MappingWinsDeviceTakesTheRest()
    {
        var map = DeviceMap.Create("cpu", ["cuda:1=cuda:0"]);

        Assert.Equal(["cuda:0", "cpu"], new[] { "cuda:1", "cuda:2" }.Select(map.Map));
        Assert.Equal("cuda:1=cuda:0, else cpu", map.ToString());
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:")]
    [InlineData("CPU")]
    [InlineData("cuda:0 ")]
    public void Create_BadDevice_IsRejectedByName(string device)
    {
        var error = Assert.Throws<ArgumentException>(() => DeviceMap.Create(device));

        Assert.StartsWith($"--device '{device}'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("cuda:1")]
    [InlineData("cuda:1=")]
    [InlineData("x=cpu")]
    public void Create_BadMapping_IsRejectedByName(string mapping)
    {
        var error = Assert.Throws<ArgumentException>(() => DeviceMap.Create(null, [mapping]));

        Assert.StartsWith($"--map '{mapping}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_Nothing_AsksForADevice()
    {
        Assert.Throws<ArgumentException>(() => DeviceMap.Create(null, []));
    }
}
