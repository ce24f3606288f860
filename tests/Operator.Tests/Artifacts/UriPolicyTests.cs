using TorchFerry.Operator.Artifacts;
using TorchFerry.Storage;

namespace TorchFerry.Operator.Tests.Artifacts;

public sealed class UriPolicyTests
{
    private readonly UriPolicy policy = new(new Dictionary<string, IReadOnlyList<string>>
    {
        ["team-a"] = ["s3://flyte-data/team-a/"],
        ["team-b"] = ["s3://flyte-data/team-b"],
        [UriPolicy.AnyNamespace] = ["s3://shared-models/"],
    });

    [Theory]
    [InlineData("team-a", "s3://flyte-data/team-a/x/ck.pt", true)]
    [InlineData("team-a", "s3://flyte-data/team-b/x/ck.pt", false)]
    [InlineData("team-b", "s3://flyte-data/team-b/x/ck.pt", true)]
    [InlineData("team-b", "s3://flyte-data/team-b-evil/x/ck.pt", false)]
    [InlineData("team-a", "s3://flyte-data/team-a/../team-b/ck.pt", false)]
    [InlineData("team-c", "s3://shared-models/resnet.pt", true)]
    [InlineData("team-c", "s3://flyte-data/team-a/x/ck.pt", false)]
    [InlineData("team-a", "file:///etc/passwd", false)]
    public void Allows_OnlyUrisUnderTheNamespacesPrefixes(string @namespace, string uri, bool allowed)
    {
        Assert.Equal(allowed, policy.Allows(@namespace, StorageUri.Parse(uri)));
    }

    [Fact]
    public void EnsureAllowed_Refuses_WithAForbiddenErrorNamingTheUriAndNamespace()
    {
        var error = Assert.Throws<StorageException>(() => policy.EnsureAllowed("team-a", StorageUri.Parse("s3://other/x.pt")));

        Assert.Equal(StorageErrorKind.Forbidden, error.Kind);
        Assert.Equal("s3://other/x.pt: outside the prefixes namespace 'team-a' may use; not touched", error.Message);
    }

    [Theory]
    [InlineData("s3://b/x/ck.pt", "cpu", "s3://b/x/ck.torchferry-cpu.pt")]
    [InlineData("s3://b/x/ck.pt", "cuda:1", "s3://b/x/ck.torchferry-cuda1.pt")]
    [InlineData("s3://b/model", "cpu", "s3://b/model.torchferry-cpu")]
    public void VariantNaming_PutsTheVariantBesideTheSource(string source, string device, string expected)
    {
        Assert.Equal(expected, VariantNaming.UriFor(StorageUri.Parse(source), device).ToString());
    }
}
