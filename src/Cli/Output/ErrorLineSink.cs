using Serilog.Core;
using Serilog.Events;

namespace TorchFerry.Cli.Output;

/// <summary>Log events as single <c>torchferry: warning: ...</c> lines on the command's error writer.</summary>
internal sealed class ErrorLineSink(TextWriter error) : ILogEventSink
{
    public void Emit(LogEvent logEvent)
    {
        var level = logEvent.Level switch
        {
            LogEventLevel.Warning => "warning",
            LogEventLevel.Error or LogEventLevel.Fatal => "error",
            _ => "info",
        };
        lock (error)
        {
            error.WriteLine($"torchferry: {level}: {logEvent.RenderMessage(System.Globalization.CultureInfo.InvariantCulture)}");
        }
    }
}
