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
    [InlineData("team-a", "s3://flyte-data/torchferry-variants/team-a/x/ck.torchferry-cpu.pt", true)]
    [InlineData("team-b", "s3://flyte-data/torchferry-variants/team-a/x/ck.torchferry-cpu.pt", false)]
    [InlineData("team-a", "s3://flyte-data/torchferry-variants/team-a/../team-b/ck.pt", false)]
    [InlineData("team-c", "s3://shared-models/torchferry-variants/resnet.torchferry-cpu.pt", true)]
    [InlineData("team-a", "s3://flyte-data/torchferry-variants/", false)]
    public void Allows_UnderTheVariantPrefix_WhatTheKeyWithoutItWouldBe(string @namespace, string uri, bool allowed)
    {
        var prefixed = new UriPolicy(new Dictionary<string, IReadOnlyList<string>>
        {
            ["team-a"] = ["s3://flyte-data/team-a/"],
            ["team-b"] = ["s3://flyte-data/team-b/"],
            [UriPolicy.AnyNamespace] = ["s3://shared-models/"],
        }, VariantLayout.Under("torchferry-variants/"));

        Assert.Equal(allowed, prefixed.Allows(@namespace, StorageUri.Parse(uri)));
    }
}
