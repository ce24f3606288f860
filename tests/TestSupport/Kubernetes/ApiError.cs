namespace TorchFerry.TestSupport.Kubernetes;

/// <summary>A refusal the emulator answers with a Status of this code and reason, as the API server does.</summary>
internal sealed class ApiError(int code, string reason, string message) : Exception(message)
{
    public int Code { get; } = code;

    public string Reason { get; } = reason;
}
