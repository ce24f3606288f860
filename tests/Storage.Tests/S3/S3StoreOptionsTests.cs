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
}
