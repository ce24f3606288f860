using System.Globalization;
using System.Text;

namespace TorchFerry.Cli.Output;

/// <summary>
/// Text from an input (record names, dict keys, class names) made safe for a terminal: control
/// characters (escape sequences included) and bidirectional overrides are written as <c>\uXXXX</c>;
/// line breaks are kept only where the caller says the text is ours.
/// </summary>
internal static class TerminalText
{
    public static string Escape(string text, bool keepNewlines = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.Any(c => Unsafe(c) && !(keepNewlines && c == '\n')))
        {
            return text;
        }

        var escaped = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            if (Unsafe(c) && !(keepNewlines && c == '\n'))
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

    // Control characters, and the bidirectional overrides that make text read otherwise than it is stored.
    private static bool Unsafe(char c) => char.IsControl(c) || c is '\u200e' or '\u200f' or (>= '\u202a' and <= '\u202e') or (>= '\u2066' and <= '\u2069');
}
