using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace TorchFerry.Storage.Tests;

/// <summary>Collects rendered log messages so tests can assert what was logged.</summary>
internal sealed class ListLogSink : ILogEventSink
{
    public List<(LogEventLevel Level, string Message)> Events { get; } = [];

    public ILogger Logger => new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(this).CreateLogger();

    public void Emit(LogEvent logEvent)
    {
        lock (Events)
        {
            Events.Add((logEvent.Level, logEvent.RenderMessage(System.Globalization.CultureInfo.InvariantCulture)));
        }
    }
}
