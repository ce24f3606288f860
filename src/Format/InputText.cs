namespace TorchFerry.Format;

/// <summary>Text taken from an input (a record name, a global's name) for a one-line message.</summary>
internal static class InputText
{
    /// <summary>Control characters escaped, at most 200 characters.</summary>
    public static string Printable(string text) => OneLine(text.Length > 200 ? text[..200] + "..." : text);

    /// <summary>Control characters (line breaks among them) escaped as <c>\uXXXX</c>.</summary>
    public static string OneLine(string text) =>
        text.Any(char.IsControl) ? string.Concat(text.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString())) : text;
}
