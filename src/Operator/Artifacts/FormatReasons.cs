using TorchFerry.Contract;
using TorchFerry.Format;

namespace TorchFerry.Operator.Artifacts;

/// <summary>The condition reason for each way a source can fail to be a torch.save archive.</summary>
internal static class FormatReasons
{
    public static string For(FormatErrorKind kind) => kind switch
    {
        FormatErrorKind.NotAnArchive => ConditionReasons.NotAPyTorchArtifact,
        FormatErrorKind.Legacy => ConditionReasons.LegacyFormat,
        FormatErrorKind.TorchScript => ConditionReasons.TorchScriptArchive,
        FormatErrorKind.Corrupt or FormatErrorKind.Truncated => ConditionReasons.CorruptArchive,
        FormatErrorKind.Unsupported => ConditionReasons.UnsupportedContent,
        FormatErrorKind.UnsafeGlobal => ConditionReasons.UnsafePickle,
        FormatErrorKind.LimitExceeded => ConditionReasons.LimitExceeded,
        _ => ConditionReasons.NotAPyTorchArtifact,
    };
}
