using System.Text;
using TorchFerry.Storage.S3;
using TorchFerry.TestSupport;

namespace TorchFerry.Storage.Tests.S3;

/// <summary>Store settings from the environment: the AWS variables, else the ones Flyte gives task pods.</summary>
[Collection(S3Collection.Name)]
public sealed class S3StoreOptionsTests(S3Fixture s3)
{
    [Fact]
    public async Task FlyteTaskEnvironment_ReachesTheStore_WithFlytekitsVariablesOnly()
    {
        var key = S3Fixture.UniqueKey("inputs.pb");
        using (var file = new TemporaryDirectory())
        {
            await File.WriteAllTextAsync(file.File("inputs.pb"), "literal map");
            await s3.PutFileAsync(key, file.File("inputs.pb"));
        }

        var flytePod = new Dictionary<string, string>
        {
            ["FLYTE_AWS_ENDPOINT"] = s3.Server.Endpoint.ToString(),
            ["FLYTE_AWS_ACCESS_KEY_ID"] = S3Server.AccessKey,
            ["FLYTE_AWS_SECRET_ACCESS_KEY"] = S3Server.SecretKey,
        };
        var options = S3StoreOptions.FromEnvironment(name => flytePod.GetValueOrDefault(name));
        using var stores = new ObjectStoreRouter(options, new ListLogSink().Logger);

        var uri = StorageUri.S3(S3Server.Bucket, key);
        var bytes = await stores.For(uri).ReadAllAsync(uri, 1024, default);

        Assert.Equal("literal map", Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public void AwsVariables_WinOverFlytekits()
    {
        var environment = new Dictionary<string, string>
        {
            ["AWS_ENDPOINT_URL_S3"] = "http://minio.storage:9000",
            ["AWS_ACCESS_KEY_ID"] = "from-aws",
            ["FLYTE_AWS_ENDPOINT"] = "http://flyte-sandbox-minio.flyte:9000",
            ["FLYTE_AWS_ACCESS_KEY_ID"] = "minio",
            ["FLYTE_AWS_SECRET_ACCESS_KEY"] = "miniostorage",
        };

        var options = S3StoreOptions.FromEnvironment(name => environment.GetValueOrDefault(name));

        Assert.Equal(new Uri("http://minio.storage:9000"), options.Endpoint);
        Assert.Null(options.Credentials);
    }

    [Fact]
    public void CopyPartsAndConcurrency_ComeFromTorchFerrysVariables_DefaultingToTheFewestParts()
    {
        var set = new Dictionary<string, string> { ["TORCHFERRY_S3_COPY_PART_SIZE_MIB"] = "512", ["TORCHFERRY_S3_COPY_CONCURRENCY"] = "8" };

        var options = S3StoreOptions.FromEnvironment(name => set.GetValueOrDefault(name));
        var defaults = S3StoreOptions.FromEnvironment(_ => null);

        Assert.Equal((512L << 20, 8), (options.CopyPartSize, options.CopyConcurrency));
        Assert.Equal((S3StoreOptions.MaximumPartSize, 4), (defaults.CopyPartSize, defaults.CopyConcurrency));
    }

    [Theory]
    [InlineData("TORCHFERRY_S3_COPY_PART_SIZE_MIB", "4", "S3 copy part size 4194304 bytes is outside S3's limits")]
    [InlineData("TORCHFERRY_S3_COPY_PART_SIZE_MIB", "5121", "outside S3's limits (5 MiB to 5 GiB)")]
    [InlineData("TORCHFERRY_S3_COPY_CONCURRENCY", "0", "S3 copy concurrency 0 is outside 1 to 64")]
    [InlineData("TORCHFERRY_S3_COPY_CONCURRENCY", "65", "S3 copy concurrency 65 is outside 1 to 64")]
    [InlineData("TORCHFERRY_S3_PART_SIZE_MIB", "4", "S3 part size 4194304 bytes is outside S3's limits (5 MiB to 5 GiB)")]
    [InlineData("TORCHFERRY_S3_PART_SIZE_MIB", "5121", "S3 part size 5369757696 bytes is outside S3's limits (5 MiB to 5 GiB)")]
    public void CopySettings_OutOfRange_AreRefusedNamingThem(string name, string value, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => S3StoreOptions.FromEnvironment(n => n == name ? value : null));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, null, "us-east-1")]
    [InlineData(null, "eu-west-1", "eu-west-1")]
    [InlineData("ap-south-1", "eu-west-1", "ap-south-1")]
    public void Region_IsAwsRegion_ThenTheDefaultRegion_ThenUsEast1(string? region, string? defaultRegion, string expected)
    {
        var set = new Dictionary<string, string?> { ["AWS_REGION"] = region, ["AWS_DEFAULT_REGION"] = defaultRegion };

        Assert.Equal(expected, S3StoreOptions.FromEnvironment(name => set.GetValueOrDefault(name)).Region);
    }

    [Theory]
    [InlineData("http://s3-only:9000", "http://all:9000", "http://flyte:9000", "http://s3-only:9000/")]
    [InlineData(null, "http://all:9000", "http://flyte:9000", "http://all:9000/")]
    [InlineData(null, null, "http://flyte:9000", "http://flyte:9000/")]
    [InlineData(null, null, null, null)]
    public void Endpoint_IsTheS3Variable_ThenTheGeneralOne_ThenFlytekits(string? s3Endpoint, string? endpoint, string? flyte, string? expected)
    {
        var set = new Dictionary<string, string?> { ["AWS_ENDPOINT_URL_S3"] = s3Endpoint, ["AWS_ENDPOINT_URL"] = endpoint, ["FLYTE_AWS_ENDPOINT"] = flyte };

        Assert.Equal(expected, S3StoreOptions.FromEnvironment(name => set.GetValueOrDefault(name)).Endpoint?.ToString());
    }

    [Fact]
    public void PartSizeServerSideCopyAndChunkEncoding_ComeFromTorchFerrysVariables()
    {
        var set = new Dictionary<string, string> { ["TORCHFERRY_S3_PART_SIZE_MIB"] = "16", ["TORCHFERRY_S3_SERVER_SIDE_COPY"] = "false", ["TORCHFERRY_S3_CHUNK_ENCODING"] = "true" };

        var options = S3StoreOptions.FromEnvironment(name => set.GetValueOrDefault(name));
        var defaults = S3StoreOptions.FromEnvironment(_ => null);

        Assert.Equal((16L << 20, false, true), (options.PartSize, options.ServerSideCopy, options.UseChunkEncoding));
        Assert.Equal((8L << 20, true, (bool?)null), (defaults.PartSize, defaults.ServerSideCopy, defaults.UseChunkEncoding));
    }

    [Theory]
    [InlineData(null, null, true, true)]
    [InlineData("https://minio:9000", null, false, true)]
    [InlineData("http://minio:9000", null, false, false)]
    [InlineData("http://minio:9000", true, true, false)]
    [InlineData(null, false, false, true)]
    public void ChunkEncodingAndUnsignedPayloads_FollowTheEndpoint_UnlessSet(string? endpoint, bool? chunked, bool expectChunked, bool expectUnsigned)
    {
        // AWS itself takes chunked uploads; S3-compatible servers often do not. Unsigned payloads need TLS.
        var options = new S3StoreOptions { Endpoint = endpoint is null ? null : new Uri(endpoint), UseChunkEncoding = chunked };

        Assert.Equal((expectChunked, expectUnsigned), (options.ChunkEncoding, options.UnsignedPayloads));
    }

    [Fact]
    public void Defaults_AreAwsInUsEast1_WithChecksumsOnlyWhereS3RequiresThem()
    {
        var options = new S3StoreOptions();

        Assert.Equal(("us-east-1", true, 5, true), (options.Region, options.ChecksumsWhenRequired, options.MaxErrorRetry, options.ServerSideCopy));
    }

    [Fact]
    public void Limits_AreInclusive()
    {
        new S3StoreOptions { PartSize = S3StoreOptions.MaximumPartSize, CopyPartSize = S3StoreOptions.MinimumPartSize, CopyConcurrency = 64 }.Validate();
        new S3StoreOptions { PartSize = S3StoreOptions.MinimumPartSize, CopyPartSize = S3StoreOptions.MaximumPartSize, CopyConcurrency = 1, MaxErrorRetry = 0 }.Validate();
    }

    [Fact]
    public void NegativeRetries_AreRefused()
    {
        var error = Assert.Throws<ArgumentException>(() => new S3StoreOptions { MaxErrorRetry = -1 }.Validate());

        Assert.StartsWith("S3 retries cannot be negative", error.Message, StringComparison.Ordinal);
    }
}
