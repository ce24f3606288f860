using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace TorchFerry.Contract;

/// <summary>
/// A device TorchFerry delivers PyTorch artifacts to: <c>cpu</c> or <c>cuda:N</c>. The one rule for
/// device names: the CRDs, the chart's values schema, the webhook, the operator and the CLI all
/// accept exactly what <see cref="Pattern"/> accepts, and refuse the rest at their edge, so a bad
/// name never reaches a place where it could fail a task or retry for ever.
/// </summary>
/// <remarks>
/// Torch spells locations in lower case and <c>torch.save</c> records a tensor on <c>cuda</c> as
/// <c>cuda:0</c>, so <c>cuda</c> is normalised to <c>cuda:0</c>. Indexes stop at 99 (no node has
/// more GPUs) without leading zeros, so every device has one spelling.
/// </remarks>
public readonly partial record struct TorchDevice
{
    /// <summary>The pattern every device name matches (ECMA-262 and RE2 compatible, for CRDs and JSON schemas).</summary>
    public const string Pattern = "^(cpu|cuda(:(0|[1-9][0-9]?))?)$";

    /// <summary>What a valid name looks like, for messages.</summary>
    public const string Expected = "cpu, cuda or cuda:N with N from 0 to 99";

    private TorchDevice(string name) => Name = name;

    /// <summary>The CPU.</summary>
    public static TorchDevice Cpu { get; } = new("cpu");

    /// <summary>The normalised name, as torch records it (<c>cpu</c>, <c>cuda:0</c>).</summary>
    public string Name { get; }

    /// <summary>Whether this is the CPU.</summary>
    public bool IsCpu => Name == Cpu.Name;

    /// <summary>Whether <paramref name="value"/> names a device (before normalisation).</summary>
    public static bool IsValid([NotNullWhen(true)] string? value) =>
        value is not null && !value.EndsWith('\n') && DevicePattern().IsMatch(value); // .NET's $ also matches before a final newline; Go's and ECMA's do not

    /// <summary>Parses and normalises <paramref name="value"/>; false when it is not a device name.</summary>
    public static bool TryParse([NotNullWhen(true)] string? value, out TorchDevice device)
    {
        if (!IsValid(value))
        {
            device = default;
            return false;
        }

        device = new TorchDevice(value == "cuda" ? "cuda:0" : value);
        return true;
    }

    /// <summary>Parses and normalises <paramref name="value"/>.</summary>
    /// <param name="value">The name to parse.</param>
    /// <param name="source">Where the value came from, for the message (e.g. <c>--device</c>).</param>
    /// <exception cref="ArgumentException">Not a device name; the message names the source and the value.</exception>
    public static TorchDevice Parse(string? value, string source) =>
        TryParse(value, out var device) ? device : throw new ArgumentException(Problem(value, source));

    /// <summary>The one-line message for a value that is not a device name.</summary>
    public static string Problem(string? value, string source) =>
        $"{source} '{Printable(value)}': not a device (expected {Expected})";

    /// <inheritdoc/>
    public override string ToString() => Name ?? string.Empty;

    // A bad value may hold anything; messages show it escaped and short.
    private static string Printable(string? value)
    {
        if (value is null)
        {
            return string.Empty;
        }

        var shown = value.Length > 64 ? value[..64] + "..." : value;
        return string.Concat(shown.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()));
    }

    [GeneratedRegex(Pattern, RegexOptions.CultureInvariant)]
    private static partial Regex DevicePattern();
}
