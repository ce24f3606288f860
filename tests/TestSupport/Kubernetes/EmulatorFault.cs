namespace TorchFerry.TestSupport.Kubernetes;

/// <summary>What the emulator does to one request instead of (or before) answering it normally.</summary>
public sealed record EmulatorFault
{
    /// <summary>Answer with this status code (500, 429, 410 for a watch whose version is gone, ...) and a Status body.</summary>
    public int? Status { get; init; }

    /// <summary>Wait this long first.</summary>
    public TimeSpan? Delay { get; init; }

    /// <summary>For watches: close the stream after this many events.</summary>
    public int? DropWatchAfter { get; init; }

    /// <summary>For watches: the server ends the stream after this long, as it does at <c>timeoutSeconds</c> (which is whole seconds).</summary>
    public TimeSpan? EndWatchAfter { get; init; }

    /// <summary>For watches: keep the stream open and send nothing, ever.</summary>
    public bool HangWatch { get; init; }
}
