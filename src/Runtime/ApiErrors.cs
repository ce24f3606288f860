using System.Net;
using k8s.Autorest;

namespace TorchFerry.Runtime;

/// <summary>Which API server answers retrying cannot change.</summary>
internal static class ApiErrors
{
    /// <summary>
    /// An answer that says the request itself is wrong (400 bad, 413 too large, 415 unsupported, 422
    /// invalid), so sending it again gives the same answer. Not 401/403 (a token rotates, RBAC
    /// propagates), 404 (a CRD not yet established), 408, 409 (read again) or 429 (back off): those
    /// are retried with backoff.
    /// </summary>
    public static bool IsTerminal(Exception error) =>
        error is HttpOperationException { Response.StatusCode: HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.UnsupportedMediaType or HttpStatusCode.UnprocessableEntity };

    /// <summary>The API server's own message for a refused request (its Status.message), else the exception's.</summary>
    public static string Describe(Exception error) =>
        error is HttpOperationException { Response.Content: { Length: > 0 } content } operation
            ? $"{(int)operation.Response.StatusCode}: {StatusMessage(content) ?? operation.Message}"
            : error.Message;

    private static string? StatusMessage(string content)
    {
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(content);
            return document.RootElement.TryGetProperty("message", out var message) ? message.GetString() : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}
