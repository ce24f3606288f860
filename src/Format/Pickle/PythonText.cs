using System.Globalization;
using System.Text;

namespace TorchFerry.Format.Pickle;

/// <summary>
/// The text forms of protocol 0's string opcodes, decoded as CPython's unpickler decodes them
/// (torch.load passes encoding="utf-8" for Python 2 strings). Each returns null for text CPython
/// would refuse, so the caller can name it.
/// </summary>
internal static class PythonText
{
    /// <summary>UTF-8 that throws on invalid bytes (what Python's strict decoding refuses), shared: it holds no state.</summary>
    public static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// UNICODE's raw-unicode-escape: each byte is the code point of the same number; <c>\uXXXX</c> and
    /// <c>\UXXXXXXXX</c> are escapes only after an odd run of backslashes (the pickler escapes
    /// <c>\</c>, newlines and everything above U+00FF this way).
    /// </summary>
    public static string? RawUnicodeEscape(ReadOnlySpan<byte> line)
    {
        var text = new StringBuilder(line.Length);
        var i = 0;
        while (i < line.Length)
        {
            if (line[i] != (byte)'\\')
            {
                text.Append((char)line[i++]);
                continue;
            }

            var run = i;
            while (i < line.Length && line[i] == (byte)'\\')
            {
                i++;
            }

            var backslashes = i - run;
            if (backslashes % 2 == 0 || i >= line.Length || (line[i] != (byte)'u' && line[i] != (byte)'U'))
            {
                text.Append('\\', backslashes);
                continue;
            }

            text.Append('\\', backslashes - 1);
            var digits = line[i] == (byte)'u' ? 4 : 8;
            i++;
            if (i + digits > line.Length || !int.TryParse(Encoding.ASCII.GetString(line.Slice(i, digits)), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var codePoint)
                || codePoint > 0x10FFFF || codePoint < 0)
            {
                return null;
            }

            // CPython keeps a lone surrogate escape as that code unit; so does a .NET string.
            text.Append(codePoint <= 0xFFFF ? ((char)codePoint).ToString() : char.ConvertFromUtf32(codePoint));
            i += digits;
        }

        return text.ToString();
    }

    /// <summary>
    /// STRING's quoted Python 2 literal: the outer quotes (which must match) removed, then
    /// <c>codecs.escape_decode</c>'s escapes, the bytes read as UTF-8.
    /// </summary>
    public static string? QuotedLiteral(ReadOnlySpan<byte> line)
    {
        if (line.Length < 2 || line[0] != line[^1] || (line[0] != (byte)'\'' && line[0] != (byte)'"'))
        {
            return null;
        }

        var body = line[1..^1];
        var bytes = new List<byte>(body.Length);
        for (var i = 0; i < body.Length; i++)
        {
            if (body[i] != (byte)'\\')
            {
                bytes.Add(body[i]);
                continue;
            }

            if (++i == body.Length)
            {
                return null; // "Trailing \ in string"
            }

            var c = body[i];
            switch (c)
            {
                case (byte)'\n':
                    break;
                case (byte)'a': bytes.Add(7); break;
                case (byte)'b': bytes.Add(8); break;
                case (byte)'f': bytes.Add(12); break;
                case (byte)'n': bytes.Add(10); break;
                case (byte)'r': bytes.Add(13); break;
                case (byte)'t': bytes.Add(9); break;
                case (byte)'v': bytes.Add(11); break;
                case (byte)'x':
                    if (body.Length - i - 1 < 2 || !byte.TryParse(Encoding.ASCII.GetString(body.Slice(i + 1, 2)), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex))
                    {
                        return null; // "invalid \x escape"
                    }

                    bytes.Add(hex);
                    i += 2;
                    break;
                case >= (byte)'0' and <= (byte)'7':
                    {
                        var value = c - '0';
                        for (var n = 1; n < 3 && i + 1 < body.Length && body[i + 1] is >= (byte)'0' and <= (byte)'7'; n++)
                        {
                            value = (value * 8) + (body[++i] - '0');
                        }

                        bytes.Add((byte)value);
                        break;
                    }

                case (byte)'\\' or (byte)'\'' or (byte)'"':
                    bytes.Add(c);
                    break;
                default:
                    bytes.Add((byte)'\\');
                    bytes.Add(c);
                    break;
            }
        }

        try
        {
            return StrictUtf8.GetString([.. bytes]);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }
}
