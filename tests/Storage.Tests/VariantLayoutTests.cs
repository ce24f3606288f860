namespace TorchFerry.Storage.Tests;

public sealed class VariantLayoutTests
{
    private static readonly VariantLayout Prefixed = VariantLayout.Under("torchferry-variants");

    [Theory]
    [InlineData("s3://b/x/ck.pt", "cpu", "s3://b/x/ck.torchferry-cpu.pt")]
    [InlineData("s3://b/x/ck.pt", "cuda:1", "s3://b/x/ck.torchferry-cuda1.pt")]
    [InlineData("s3://b/model", "cpu", "s3://b/model.torchferry-cpu")]
    [InlineData("s3://b/x/.pt", "cpu", "s3://b/x/.pt.torchferry-cpu")] // a name that is only a dot and an extension is a hidden file, not an extension
    public void Beside_PutsTheVariantNextToTheSource(string source, string device, string expected)
    {
        Assert.Equal(expected, VariantLayout.Beside.For(StorageUri.Parse(source), device).ToString());
    }

    [Theory]
    [InlineData("s3://b/x/ck.pt", "cpu", "s3://b/torchferry-variants/x/ck.torchferry-cpu.pt")]
    [InlineData("s3://b/ck.pt", "cuda:1", "s3://b/torchferry-variants/ck.torchferry-cuda1.pt")]
    public void Under_PutsTheVariantUnderThePrefixInTheSameBucket_KeepingTheSourcesKey(string source, string device, string expected)
    {
        Assert.Equal("torchferry-variants/", Prefixed.Prefix);
        Assert.Equal(expected, Prefixed.For(StorageUri.Parse(source), device).ToString());
    }

    [Fact]
    public void Under_LocalFiles_KeepTheirVariantsBesideThem()
    {
        var source = StorageUri.Parse("file:///data/x/ck.pt");

        Assert.Equal("file:///data/x/ck.torchferry-cpu.pt", Prefixed.For(source, "cpu").ToUriString());
        Assert.Equal("file:///data/x/dir.torchferry-cpu/", Prefixed.FolderFor("file:///data/x/dir/", "cpu"));
    }

    [Theory]
    [InlineData("s3://b/x/dir/", "s3://b/x/dir.torchferry-cpu/", "s3://b/torchferry-variants/x/dir.torchferry-cpu/")]
    [InlineData("s3://b/x/dir", "s3://b/x/dir.torchferry-cpu/", "s3://b/torchferry-variants/x/dir.torchferry-cpu/")]
    public void FolderFor_NamesTheVariantFolder(string directory, string beside, string under)
    {
        Assert.Equal(beside, VariantLayout.Beside.FolderFor(directory, "cpu"));
        Assert.Equal(under, Prefixed.FolderFor(directory, "cpu"));
    }

    [Fact]
    public void Unprefixed_GivesTheKeyWithoutThePrefix_OnlyForLocationsUnderIt()
    {
        var variant = Prefixed.For(StorageUri.Parse("s3://b/team-a/ck.pt"), "cpu");

        Assert.Equal("s3://b/team-a/ck.torchferry-cpu.pt", Prefixed.Unprefixed(variant)?.ToString());
        Assert.Null(Prefixed.Unprefixed(StorageUri.Parse("s3://b/team-a/ck.pt")));
        Assert.Null(Prefixed.Unprefixed(StorageUri.Parse("s3://b/torchferry-variants-other/ck.pt")));
        Assert.Null(VariantLayout.Beside.Unprefixed(variant));
    }

    [Theory]
    [InlineData("torchferry-variants/")]
    [InlineData("a/b.c/d_e")]
    [InlineData(".hidden/")]
    public void Problem_AcceptsPlainSegments(string prefix)
    {
        Assert.Null(VariantLayout.Problem(prefix));
    }

    [Theory]
    [InlineData("/torchferry")]
    [InlineData("a//b")]
    [InlineData("../team-b")]
    [InlineData("a/./b")]
    [InlineData("variants?x")]
    [InlineData("with space/")]
    public void Problem_NamesTheBadPrefix(string prefix)
    {
        Assert.StartsWith($"variant prefix '{prefix}' must be", VariantLayout.Problem(prefix), StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => VariantLayout.Under(prefix));
    }

    [Theory]
    [InlineData("torchferry-variants")]
    [InlineData("torchferry-variants/")]
    public void Under_APrefixWithOrWithoutItsSlash_IsTheSameFolder(string prefix)
    {
        Assert.Equal("torchferry-variants/", VariantLayout.Under(prefix).Prefix);
        Assert.Equal("s3://b/torchferry-variants/ck.torchferry-cpu.pt", VariantLayout.Under(prefix).For(StorageUri.Parse("s3://b/ck.pt"), "cpu").ToString());
    }

    [Fact]
    public void Problem_PrefixOfExactly256Characters_IsAccepted_OneMoreIsNot()
    {
        Assert.Null(VariantLayout.Problem(new string('a', 255) + "/"));
        Assert.NotNull(VariantLayout.Problem(new string('a', 256) + "/"));
    }

    [Fact]
    public void Unprefixed_ThePrefixItself_IsNoLocation()
    {
        Assert.Null(VariantLayout.Under("torchferry-variants/").Unprefixed(StorageUri.Parse("s3://b/torchferry-variants/")));
    }
}
