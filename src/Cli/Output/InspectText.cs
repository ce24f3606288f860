using System.Text.Json;
using TorchFerry.Format.Inspection;

namespace TorchFerry.Cli.Output;

/// <summary>The human form of <c>inspect</c>: a summary, then one aligned row per tensor.</summary>
internal static class InspectText
{
    public static void Write(TextWriter output, ArtifactDescription d)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(d);
        var kind = d.Kind switch
        {
            ArtifactKind.Module => $"module {Safe(d.ModuleClass)}",
            ArtifactKind.StateDict => "state dict",
            _ => d.Kind.ToString().ToLowerInvariant(),
        };
        output.WriteLine($"{Safe(d.Source)}: {kind}; {ByteSize.Format(d.SizeBytes)}, root folder '{Safe(d.Root)}', pickle protocol {d.PickleProtocol}");
        var locations = string.Join(", ", d.Totals.Locations.Select(kv => $"{Safe(kv.Key)} ×{kv.Value}"));
        output.WriteLine($"  {d.Totals.Tensors} tensors ({ByteSize.Format(d.Totals.TensorBytes)}) in {d.Totals.Storages} storages ({ByteSize.Format(d.Totals.StorageBytes)}) on {(locations.Length > 0 ? locations : "no device")}");
        if (d.Hyperparameters is { Count: > 0 } hyperparameters)
        {
            output.WriteLine($"  hyperparameters: {hyperparameters.ToJsonString(new JsonSerializerOptions { WriteIndented = false })}");
        }

        foreach (var verdict in d.WeightsOnly)
        {
            output.WriteLine(verdict.Loads
                ? $"  weights_only (torch {verdict.Torch}): loads"
                : $"  weights_only (torch {verdict.Torch}): refused, because of {string.Join(", ", verdict.BlockedBy.Select(Safe))}");
        }

        foreach (var unsupported in d.Unsupported)
        {
            output.WriteLine($"  unsupported: {Name(unsupported.Path)} is built by {Safe(unsupported.Function)}, which TorchFerry does not support");
        }

        if (d.Tensors.Count == 0)
        {
            return;
        }

        string[] header = ["PATH", "DTYPE", "SHAPE", "STRIDE", "STORAGE", "OFFSET", "LOCATION", "BYTES"];
        var rows = d.Tensors.Select(t => new[]
        {
            Name(t.Path), t.Dtype, "(" + string.Join(", ", t.Shape) + ")", "(" + string.Join(", ", t.Stride) + ")",
            Safe(t.StorageKey), t.StorageOffset.ToString(System.Globalization.CultureInfo.InvariantCulture), Safe(t.Location), ByteSize.Format(t.Bytes),
        }).ToList();
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Max(r => r[i].Length))).ToArray();
        output.WriteLine();
        output.WriteLine("  " + string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        foreach (var row in rows)
        {
            output.WriteLine("  " + string.Join("  ", row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
        }
    }

    // Names come from the file: nothing in them reaches the terminal as a control character or a line break.
    private static string Name(string path) => path.Length == 0 ? "<root>" : TerminalText.Escape(path);

    private static string Safe(string? text) => text is null ? string.Empty : TerminalText.Escape(text);
}
