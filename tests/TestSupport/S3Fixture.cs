using Amazon.S3;
using Amazon.S3.Model;

namespace TorchFerry.TestSupport;

/// <summary>One s3rver and one fault proxy in front of it, shared by a test collection, with a plain client for setting up and checking objects.</summary>
public sealed class S3Fixture : IDisposable
{
    public S3Fixture()
    {
        // Never let the SDK look for an instance role: tests talk to 127.0.0.1 only.
        Environment.SetEnvironmentVariable("AWS_EC2_METADATA_DISABLED", "true");
        Server = new S3Server();
        Proxy = new FaultProxy(Server);
        Client = S3Server.CreateClient(Server.Endpoint);
    }

    public S3Server Server { get; }

    public FaultProxy Proxy { get; }

    public AmazonS3Client Client { get; }

    /// <summary>A key no other test uses.</summary>
    public static string UniqueKey(string name) => $"{Guid.NewGuid():N}/{name}";

    public async Task PutFileAsync(string key, string path)
    {
        await using var file = File.OpenRead(path);
        await Client.PutObjectAsync(new PutObjectRequest { BucketName = S3Server.Bucket, Key = key, InputStream = file, UseChunkEncoding = false });
    }

    public async Task PutBytesAsync(string key, byte[] data, CancellationToken cancellationToken = default) =>
        await Client.PutObjectAsync(new PutObjectRequest { BucketName = S3Server.Bucket, Key = key, InputStream = new MemoryStream(data), UseChunkEncoding = false }, cancellationToken);

    public async Task<byte[]> GetBytesAsync(string key)
    {
        using var response = await Client.GetObjectAsync(S3Server.Bucket, key);
        using var bytes = new MemoryStream();
        await response.ResponseStream.CopyToAsync(bytes);
        return bytes.ToArray();
    }

    public async Task GetFileAsync(string key, string path)
    {
        using var response = await Client.GetObjectAsync(S3Server.Bucket, key);
        await using var file = File.Create(path);
        await response.ResponseStream.CopyToAsync(file);
    }

    public async Task<bool> ExistsAsync(string key)
    {
        try
        {
            await Client.GetObjectMetadataAsync(S3Server.Bucket, key);
            return true;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    /// <summary>Puts the proxy back to plain forwarding.</summary>
    public void ResetProxy()
    {
        Proxy.EmulateUploadPartCopy = false;
        Proxy.CorruptCopyETags = false;
        Proxy.CorruptPutETags = false;
        Proxy.RefuseFlexibleChecksums = false;
        Proxy.Fault = null;
        Proxy.BeforeForward = null;
        Proxy.ClearRequests();
    }

    public void Dispose()
    {
        Client.Dispose();
        Proxy.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Server.Dispose();
    }
}
