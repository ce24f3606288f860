using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Amazon.S3;
using TorchFerry.Storage.S3;

namespace TorchFerry.Storage.Tests.S3;

/// <summary>
/// What an S3 failure becomes decides what happens next: NotFound and AccessDenied are terminal,
/// Unavailable and Unreachable are retried by the operator, SourceChanged restarts a conversion.
/// </summary>
public sealed class S3ErrorsTests
{
    private static readonly StorageUri Uri = StorageUri.S3("models", "run/model.pt");
    private static readonly S3StoreOptions Options = new() { MaxErrorRetry = 3 };

    [Theory]
    [InlineData("NoSuchBucket", HttpStatusCode.NotFound, StorageErrorKind.NotFound, "s3://models/run/model.pt: bucket 'models' does not exist")]
    [InlineData("NoSuchKey", HttpStatusCode.NotFound, StorageErrorKind.NotFound, "s3://models/run/model.pt: no such object")]
    [InlineData(null, HttpStatusCode.NotFound, StorageErrorKind.NotFound, "s3://models/run/model.pt: no such object")]
    [InlineData("InvalidAccessKeyId", HttpStatusCode.BadRequest, StorageErrorKind.AccessDenied, "s3://models/run/model.pt: access denied on read (InvalidAccessKeyId); check the credentials and the bucket policy")]
    [InlineData("SignatureDoesNotMatch", HttpStatusCode.BadRequest, StorageErrorKind.AccessDenied, null)]
    [InlineData("AccessDenied", HttpStatusCode.BadRequest, StorageErrorKind.AccessDenied, null)]
    [InlineData("InvalidToken", HttpStatusCode.BadRequest, StorageErrorKind.AccessDenied, null)]
    [InlineData("ExpiredToken", HttpStatusCode.BadRequest, StorageErrorKind.AccessDenied, null)]
    [InlineData(null, HttpStatusCode.Forbidden, StorageErrorKind.AccessDenied, "s3://models/run/model.pt: access denied on read (Forbidden); check the credentials and the bucket policy")]
    [InlineData("PreconditionFailed", HttpStatusCode.BadRequest, StorageErrorKind.SourceChanged, "s3://models/run/model.pt: the object changed while it was being read (ETag no longer matches); nothing was written")]
    [InlineData(null, HttpStatusCode.PreconditionFailed, StorageErrorKind.SourceChanged, null)]
    [InlineData("InternalError", HttpStatusCode.InternalServerError, StorageErrorKind.Unavailable, "s3://models/run/model.pt: the store kept failing on read (InternalError, HTTP 500) after 3 retries")]
    [InlineData(null, HttpStatusCode.ServiceUnavailable, StorageErrorKind.Unavailable, null)]
    [InlineData("SlowDown", HttpStatusCode.BadRequest, StorageErrorKind.Unavailable, null)]
    [InlineData("Throttling", HttpStatusCode.BadRequest, StorageErrorKind.Unavailable, null)]
    [InlineData("RequestLimitExceeded", HttpStatusCode.BadRequest, StorageErrorKind.Unavailable, null)]
    [InlineData(null, HttpStatusCode.TooManyRequests, StorageErrorKind.Unavailable, null)]
    [InlineData("InvalidRange", HttpStatusCode.RequestedRangeNotSatisfiable, StorageErrorKind.Other, "s3://models/run/model.pt: read failed (InvalidRange): the server said no")]
    [InlineData(null, HttpStatusCode.BadRequest, StorageErrorKind.Other, "s3://models/run/model.pt: read failed (BadRequest): the server said no")]
    public void ServiceErrors_MapToTheirKind_NamingTheObject(string? code, HttpStatusCode status, StorageErrorKind kind, string? message)
    {
        var error = S3Errors.Map(new AmazonS3Exception("the server said no") { ErrorCode = code, StatusCode = status }, Uri, "read", Options);

        Assert.Equal(kind, error.Kind);
        if (message is not null)
        {
            Assert.Equal(message, error.Message);
        }
    }

    [Fact]
    public void StorageException_IsPassedOnAsItIs()
    {
        var original = new StorageException(StorageErrorKind.Forbidden, "x");

        Assert.Same(original, S3Errors.Map(original, Uri, "read", Options));
    }

    [Fact]
    public void MissingCredentials_NameEveryProviderTried_AndWhatToSet()
    {
        var sdk = new AmazonClientException(
            "Failed to resolve AWS credentials. The credential providers used to search for credentials returned the following errors:\n" +
            "Exception 1 of 2: The environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN were not set with AWS credentials. (Parameter 'key')\n" +
            "Exception 2 of 2: EC2 instance metadata was not available.\n" +
            "Exception without a provider's answer\n" +
            "Note: not a provider's answer");

        var error = S3Errors.Map(sdk, Uri, "read", Options);

        Assert.Equal(StorageErrorKind.AccessDenied, error.Kind);
        Assert.Equal(
            "s3://models/run/model.pt: no AWS credentials for read; tried 2 providers (The environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN were not set with AWS credentials; EC2 instance metadata was not available); " +
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or FLYTE_AWS_ACCESS_KEY_ID and FLYTE_AWS_SECRET_ACCESS_KEY), AWS_PROFILE, or IRSA's AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE",
            error.Message);
        Assert.Contains("tried the standard AWS credential chain;", S3Errors.Map(new AmazonClientException("Failed to resolve AWS credentials."), Uri, "read", Options).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OtherClientErrors_AreOther_WithTheirMessage()
    {
        var error = S3Errors.Map(new AmazonClientException("Failed to parse the answer"), Uri, "list", Options);

        Assert.Equal((StorageErrorKind.Other, "s3://models/run/model.pt: list failed: Failed to parse the answer"), (error.Kind, error.Message));
    }

    [Fact]
    public void ConnectionFailures_AreUnreachable_NamingTheEndpointAndTheCause()
    {
        var refused = new HttpRequestException("Connection refused (minio:9000)", new SocketException((int)SocketError.ConnectionRefused));
        var wrapped = new AmazonServiceException("request failed", refused) { StatusCode = 0 };
        var withEndpoint = Options with { Endpoint = new System.Uri("http://minio:9000/path") };

        var viaEndpoint = S3Errors.Map(wrapped, Uri, "read", withEndpoint);
        var viaRegion = S3Errors.Map(new TimeoutException("timed out"), Uri, "write", Options with { Region = "eu-west-1" });

        Assert.Equal(StorageErrorKind.Unreachable, viaEndpoint.Kind);
        Assert.Equal($"s3://models/run/model.pt: cannot reach http://minio:9000 on read ({new SocketException((int)SocketError.ConnectionRefused).Message})", viaEndpoint.Message);
        Assert.Equal((StorageErrorKind.Unreachable, "s3://models/run/model.pt: cannot reach S3 in eu-west-1 on write (timed out)"), (viaRegion.Kind, viaRegion.Message));
    }

    [Fact]
    public void ServiceErrorWithoutStatus_IsUnreachableOnlyWithAnInnerCause()
    {
        var bare = new AmazonServiceException("no answer") { StatusCode = 0 };
        var caused = new AmazonServiceException("no answer", new IOException("reset")) { StatusCode = 0 };
        var answered = new AmazonServiceException("bad", new IOException("reset")) { StatusCode = HttpStatusCode.BadRequest };

        Assert.Equal(StorageErrorKind.Other, S3Errors.Map(bare, Uri, "read", Options).Kind);
        Assert.Equal(StorageErrorKind.Unreachable, S3Errors.Map(caused, Uri, "read", Options).Kind);
        Assert.Equal(StorageErrorKind.Other, S3Errors.Map(answered, Uri, "read", Options).Kind);
    }
}
