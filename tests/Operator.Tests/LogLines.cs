namespace TorchFerry.Operator.Tests;

/// <summary>The operator's log as rendered lines ("Level: message Exception reason"), for tests to read and to show on failure.</summary>
internal sealed class LogLines : Serilog.Core.ILogEventSink
{
    public System.Collections.Concurrent.ConcurrentQueue<string> Lines { get; } = new();

    public void Emit(Serilog.Events.LogEvent logEvent) =>
        Lines.Enqueue($"{logEvent.Level}: {logEvent.RenderMessage(System.Globalization.CultureInfo.InvariantCulture)} {logEvent.Exception?.GetType().Name} {logEvent.Exception?.Message}");
}
