using System.Globalization;

namespace TorchFerry.Flyte;

/// <summary>
/// What one subtask of a Flyte map task reads of the inputs LiteralMap it is given whole (ArrayNode
/// subtasks and legacy map tasks alike): item <c>i</c> of every collection input, every other input
/// as it is. The subtask's index is in its environment.
/// </summary>
public static class MapTaskInputs
{
    /// <summary>The variable holding a subtask's index in its pod (flyteplugins' k8s array plugin and ArrayNode).</summary>
    public const string IndexVariable = "FLYTE_K8S_ARRAY_INDEX";

    /// <summary>Whether subtask <paramref name="index"/> reads <paramref name="blob"/>.</summary>
    public static bool IsRead(PyTorchBlob blob, int index)
    {
        ArgumentNullException.ThrowIfNull(blob);
        var open = blob.Path.IndexOf('[', StringComparison.Ordinal);
        var dot = blob.Path.IndexOf('.', StringComparison.Ordinal);
        if (open < 0 || (dot >= 0 && dot < open))
        {
            return true; // not an item of a collection input
        }

        var close = blob.Path.IndexOf(']', open);
        return close > open && int.TryParse(blob.Path.AsSpan(open + 1, close - open - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var item) && item == index;
    }

    /// <summary>A subtask index as it appears in the environment, or null when it is not one.</summary>
    public static int? ParseIndex(string? value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var index) ? index : null;
}
