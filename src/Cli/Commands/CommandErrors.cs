using TorchFerry.Cli.Output;
using TorchFerry.Format;

namespace TorchFerry.Cli.Commands;

/// <summary>Turns a failure into one line on standard error and an exit code; never a stack trace.</summary>
internal static class CommandErrors
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;
    public const int Internal = 70;
    public const int Cancelled = 130;
    public const int Terminated = 143;

    public static async Task<int> RunAsync(TextWriter error, Func<Task<int>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await error.WriteLineAsync("torchferry: interrupted; nothing was written").ConfigureAwait(false);
            return Cancelled;
        }
        catch (ArgumentException e)
        {
            await error.WriteLineAsync($"torchferry: {FirstLine(e.Message)}").ConfigureAwait(false);
            return Usage;
        }
        catch (Exception e) when (e is ArtifactFormatException or IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"torchferry: {FirstLine(e.Message)}").ConfigureAwait(false);
            return Failed;
        }
#pragma warning disable CA1031 // the command's contract is one line and an exit code, never a stack trace
        catch (Exception e)
#pragma warning restore CA1031
        {
            await error.WriteLineAsync($"torchferry: internal error ({e.GetType().Name}): {FirstLine(e.Message)}; please report it").ConfigureAwait(false);
            return Internal;
        }
    }

    // ArgumentException appends " (Parameter 'x')"; the message already names the input.
    private static string FirstLine(string message)
    {
        var line = TerminalText.Escape(message.Split('\n')[0].TrimEnd());
        var parameter = line.LastIndexOf(" (Parameter '", StringComparison.Ordinal);
        return parameter > 0 ? line[..parameter] : line;
    }
}
