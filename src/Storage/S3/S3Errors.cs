using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Amazon.S3;

namespace TorchFerry.Storage.S3;

/// <summary>Turns SDK failures into <see cref="StorageException"/>s that name the URI and the problem, never a secret.</summary>
internal static class S3Errors
{
    public static StorageException Map(Exception error, StorageUri uri, string operation, S3StoreOptions options)
    {
        if (error is StorageException storage)
        {
            return storage;
        }

        if (error is AmazonS3Exception s3)
        {
            var code = s3.ErrorCode ?? s3.StatusCode.ToString();
            return (s3.ErrorCode, s3.StatusCode) switch
            {
                ("NoSuchBucket", _) => new StorageException(StorageErrorKind.NotFound, $"{uri}: bucket '{uri.Bucket}' does not exist", error),
                ("NoSuchKey", _) or (_, HttpStatusCode.NotFound) => new StorageException(StorageErrorKind.NotFound, $"{uri}: no such object", error),
                ("InvalidAccessKeyId" or "SignatureDoesNotMatch" or "AccessDenied" or "InvalidToken" or "ExpiredToken", _) or (_, HttpStatusCode.Forbidden) =>
                    new StorageException(StorageErrorKind.AccessDenied, $"{uri}: access denied on {operation} ({code}); check the credentials and the bucket policy", error),
                ("PreconditionFailed", _) or (_, HttpStatusCode.PreconditionFailed) =>
                    new StorageException(StorageErrorKind.SourceChanged, $"{uri}: the object changed while it was being read (ETag no longer matches); nothing was written", error),
                (_, >= HttpStatusCode.InternalServerError) or ("SlowDown" or "Throttling" or "RequestLimitExceeded", _) or (_, HttpStatusCode.TooManyRequests) =>
                    new StorageException(StorageErrorKind.Unavailable, $"{uri}: the store kept failing on {operation} ({code}, HTTP {(int)s3.StatusCode}) after {options.MaxErrorRetry} retries", error),
                _ => new StorageException(StorageErrorKind.Other, $"{uri}: {operation} failed ({code}): {s3.Message}", error),
            };
        }

        if (error is AmazonClientException && error.Message.StartsWith("Failed to resolve AWS credentials", StringComparison.Ordinal))
        {
            return new StorageException(StorageErrorKind.AccessDenied, $"{uri}: no AWS credentials for {operation}; tried {CredentialProviders(error.Message)}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or FLYTE_AWS_ACCESS_KEY_ID and FLYTE_AWS_SECRET_ACCESS_KEY), AWS_PROFILE, or IRSA's AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE", error);
        }

        if (IsUnreachable(error))
        {
            var endpoint = options.Endpoint?.GetLeftPart(UriPartial.Authority) ?? $"S3 in {options.Region}";
            return new StorageException(StorageErrorKind.Unreachable, $"{uri}: cannot reach {endpoint} on {operation} ({Innermost(error).Message})", error);
        }

        return new StorageException(StorageErrorKind.Other, $"{uri}: {operation} failed: {error.Message}", error);
    }

    // The SDK lists each provider's answer on its own line ("Exception 1 of 4: ..."); one line names them all.
    private static string CredentialProviders(string message)
    {
        var answers = message.Split('\n')
            .Select(line => line.Trim())
            .Where(line => line.StartsWith("Exception ", StringComparison.Ordinal) && line.Contains(": ", StringComparison.Ordinal))
            .Select(line => System.Text.RegularExpressions.Regex.Replace(line[(line.IndexOf(": ", StringComparison.Ordinal) + 2)..], @" \(Parameter '[^']*'\)", string.Empty).TrimEnd('.'))
            .ToList();
        return answers.Count == 0 ? "the standard AWS credential chain" : $"{answers.Count} providers ({string.Join("; ", answers)})";
    }

    private static bool IsUnreachable(Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException or SocketException or TimeoutException || (e is AmazonServiceException { StatusCode: 0 } && e.InnerException is not null))
            {
                return true;
            }
        }

        return false;
    }

    private static Exception Innermost(Exception error)
    {
        var e = error;
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }
}
