namespace TorchFerry.Storage.Tests;

public sealed class StorageUriTests
{
    [Theory]
    [InlineData("s3://bucket/key.pt", StorageScheme.S3, "bucket", "key.pt")]
    [InlineData("S3://bucket/a/b/model.pt", StorageScheme.S3, "bucket", "a/b/model.pt")]
    [InlineData("s3://b/k/", StorageScheme.S3, "b", "k/")]
    [InlineData("file:///data/model.pt", StorageScheme.File, "", "/data/model.pt")]
    [InlineData("FILE://localhost/data/model.pt", StorageScheme.File, "", "/data/model.pt")]
    [InlineData("file:///data/my%20model.pt", StorageScheme.File, "", "/data/my model.pt")]
    [InlineData("/data/x/../model.pt", StorageScheme.File, "", "/data/model.pt")]
    public void Parse_PathsAndUris_GiveSchemeBucketAndKey(string text, StorageScheme scheme, string bucket, string key)
    {
        var uri = StorageUri.Parse(text);

        Assert.Equal((scheme, bucket, key), (uri.Scheme, uri.Bucket, uri.Key));
    }

    [Fact]
    public void Parse_RelativePath_IsMadeAbsolute()
    {
        Assert.Equal(Path.Combine(Environment.CurrentDirectory, "model.pt"), StorageUri.Parse("model.pt").Key);
    }

    [Theory]
    [InlineData("s3://bucket", "'s3://bucket': an S3 URI needs a bucket and a key, s3://bucket/key")]
    [InlineData("s3:///key", "'s3:///key': an S3 URI needs a bucket and a key, s3://bucket/key")]
    [InlineData("s3://bucket/", "'s3://bucket/': an S3 URI needs a bucket and a key, s3://bucket/key")]
    [InlineData("file://server/share/model.pt", "'file://server/share/model.pt': file URIs on other hosts are not supported")]
    [InlineData("gs://bucket/model.pt", "'gs://bucket/model.pt': unsupported scheme; use a path, file:// or s3://")]
    public void Parse_WhatNamesNoObject_IsRefusedNamingIt(string text, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => StorageUri.Parse(text));

        Assert.Equal(message + " (Parameter 'text')", error.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public void Parse_Blank_IsRefused(string text) => Assert.Throws<ArgumentException>(() => StorageUri.Parse(text));

    [Theory]
    [InlineData("s3://b/a/b/model.pt", "model.torchferry-cpu.pt", "s3://b/a/b/model.torchferry-cpu.pt", "model.pt")]
    [InlineData("s3://b/model.pt", "other.pt", "s3://b/other.pt", "model.pt")]
    [InlineData("/data/run/model.pt", "other.pt", "/data/run/other.pt", "model.pt")]
    public void WithNameAndName_WorkOnTheLastSegment(string text, string name, string sibling, string last)
    {
        var uri = StorageUri.Parse(text);

        Assert.Equal(sibling, uri.WithName(name).ToString());
        Assert.Equal(last, uri.Name);
    }

    [Theory]
    [InlineData("s3://b/k.pt", "s3://b/k.pt", "s3://b/k.pt")]
    [InlineData("/data/k.pt", "/data/k.pt", "file:///data/k.pt")]
    public void Text_IsTheCanonicalFormAndTheUriForm(string text, string canonical, string uriForm)
    {
        var uri = StorageUri.Parse(text);

        Assert.Equal(canonical, uri.ToString());
        Assert.Equal(uriForm, uri.ToUriString());
        Assert.Equal(uri, StorageUri.Parse(uri.ToUriString()));
    }
}
