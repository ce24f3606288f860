namespace TorchFerry.Format;

/// <summary>Text taken from an input (a record name, a global's name) for a one-line message.</summary>
internal static class InputText
{
    /// <summary>Control characters escaped, at most 200 characters.</summary>
    public static string Printable(string text)
    {
        var shown = text.Length > 200 ? text[..200] + "..." : text;
        return shown.Any(char.IsControl) ? string.Concat(shown.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString())) : shown;
    }
}
