using System.Globalization;
using System.Text;

namespace TorchFerry.Cli.Output;

/// <summary>
/// Text from an input (record names, dict keys, class names) made safe for a terminal: control
/// characters, escape sequences included, are written as <c>\uXXXX</c>; line breaks are kept only
/// where the caller says the text is ours.
/// </summary>
internal static class TerminalText
{
    public static string Escape(string text, bool keepNewlines = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.Any(c => char.IsControl(c) && !(keepNewlines && c == '\n')))
        {
            return text;
        }

        var escaped = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            if (char.IsControl(c) && !(keepNewlines && c == '\n'))
            {
                escaped.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                escaped.Append(c);
            }
        }

        return escaped.ToString();
    }
}
