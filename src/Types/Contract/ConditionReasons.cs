namespace TorchFerry.Contract;

/// <summary>Condition types and reasons on TorchFerry resources, and the Event reasons that go with them.</summary>
public static class ConditionReasons
{
    /// <summary>Condition type: the variants for every target device are ready.</summary>
    public const string ReadyType = "Ready";

    /// <summary>Condition type: the source was read and described.</summary>
    public const string InspectedType = "Inspected";

    public const string Inspected = "Inspected";

    public const string VariantsReady = "VariantsReady";

    /// <summary>A URI outside the namespace's allowed prefixes (terminal until the spec changes).</summary>
    public const string ForbiddenUri = "ForbiddenUri";

    /// <summary>A target device no TorchFerry component accepts (terminal until the spec changes).</summary>
    public const string InvalidDevice = "InvalidDevice";

    /// <summary>The store could not be read (retried).</summary>
    public const string SourceUnavailable = "SourceUnavailable";

    /// <summary>Writing a variant failed (retried).</summary>
    public const string ConversionFailed = "ConversionFailed";

    /// <summary>Not a torch.save archive (empty, a bare pickle, another zip).</summary>
    public const string NotAPyTorchArtifact = "NotAPyTorchArtifact";

    /// <summary>A pre-1.6 torch.save file.</summary>
    public const string LegacyFormat = "LegacyFormat";

    /// <summary>A torch.jit.save archive.</summary>
    public const string TorchScriptArchive = "TorchScriptArchive";

    /// <summary>Damaged or cut short.</summary>
    public const string CorruptArchive = "CorruptArchive";

    /// <summary>Valid, but uses something TorchFerry does not carry.</summary>
    public const string UnsupportedContent = "UnsupportedContent";

    /// <summary>The pickle would run code when loaded.</summary>
    public const string UnsafePickle = "UnsafePickle";

    /// <summary>Beyond a documented bound.</summary>
    public const string LimitExceeded = "LimitExceeded";

    /// <summary>Event reason on a pod whose TorchFerry annotation was refused.</summary>
    public const string InvalidAnnotation = "InvalidAnnotation";

    /// <summary>Event reason when the API server refused an object we wrote (terminal).</summary>
    public const string Rejected = "Rejected";
}
