using TorchFerry.Flyte;

namespace TorchFerry.Types.Tests.Flyte;

/// <summary>A map subtask reads item i of each collection input and every other input whole.</summary>
public sealed class MapTaskInputsTests
{
    [Theory]
    [InlineData("models[3]", 3, true)]
    [InlineData("models[3]", 4, false)]
    [InlineData("models[13]", 3, false)]
    [InlineData("models[3][0]", 3, true)]
    [InlineData("models[3].weights", 3, true)]
    [InlineData("base", 3, true)]
    [InlineData("config.models[2]", 3, true)]
    public void IsRead_ItemOfTheSubtaskOrAWholeInput(string path, int index, bool read) =>
        Assert.Equal(read, MapTaskInputs.IsRead(new PyTorchBlob(path, "PyTorchTensor", "s3://b/k"), index));

    [Theory]
    [InlineData("7", 7)]
    [InlineData("0", 0)]
    [InlineData("-1", null)]
    [InlineData(" 7", null)]
    [InlineData("seven", null)]
    [InlineData(null, null)]
    public void ParseIndex_OnlyPlainNonNegativeIntegers(string? value, int? expected) =>
        Assert.Equal(expected, MapTaskInputs.ParseIndex(value));
}
