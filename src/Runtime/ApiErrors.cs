using System.Net;
using k8s.Autorest;

namespace TorchFerry.Runtime;

/// <summary>Which API server answers retrying cannot change.</summary>
internal static class ApiErrors
{
    /// <summary>
    /// A 4xx answer other than 409 (conflict: read again and retry) and 429 (throttled: back off):
    /// the request itself is wrong (422 invalid, 400 bad, 403 forbidden, 404 gone), so sending it
    /// again gives the same answer.
    /// </summary>
    public static bool IsTerminal(Exception error) =>
        error is HttpOperationException { Response.StatusCode: var status }
        && (int)status is >= 400 and < 500
        && status is not HttpStatusCode.Conflict and not HttpStatusCode.TooManyRequests;

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
