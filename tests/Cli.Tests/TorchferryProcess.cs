using System.Diagnostics;
using TorchFerry.TestSupport;

namespace TorchFerry.Cli.Tests;

/// <summary>
/// The real <c>torchferry</c> in a process of its own, as a container runs it: the natively compiled
/// binary the image ships (<see cref="PublishedImage.Cli"/>), its managed heap capped
/// (<see cref="HeapLimitBytes"/>, what the documented bounds promise fits a 256 MiB container) and
/// its wall time measured; killed after a minute.
/// </summary>
internal static class TorchferryProcess
{
    /// <summary>128 MiB: reading any archive within TorchFerry's limits fits (docs/security.md).</summary>
    public const long HeapLimitBytes = 128L * 1024 * 1024;

    public static async Task<(int ExitCode, string Output, string Error, TimeSpan Elapsed)> RunAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, Action<Process>? whileRunning = null)
    {
        var start = new ProcessStartInfo(PublishedImage.Cli, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // Hexadecimal without "0x": the native runtime ignores a prefixed value (the JIT runtime reads both).
        start.Environment["DOTNET_GCHeapHardLimit"] = HeapLimitBytes.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var watch = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        whileRunning?.Invoke(process);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"torchferry {string.Join(' ', args)} ran for over a minute");
        }

        return (process.ExitCode, await output, await error, watch.Elapsed);
    }
}
