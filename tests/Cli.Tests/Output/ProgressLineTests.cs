using TorchFerry.Cli.Output;

namespace TorchFerry.Cli.Tests.Output;

public sealed class ProgressLineTests
{
    [Fact]
    public void Report_OnATerminal_RedrawsAtMostEvery200Milliseconds()
    {
        var time = new ManualTime();
        using var writer = new StringWriter();
        var line = new ProgressLine(writer, "converting model.pt", time, enabled: true);

        line.Report(0, 4 << 20);
        line.Report(1 << 20, 4 << 20);
        time.Advance(TimeSpan.FromMilliseconds(250));
        line.Report(2 << 20, 4 << 20);

        var draws = writer.ToString().Split('\r', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, draws.Length);
        Assert.StartsWith("converting model.pt: 2.0 MiB / 4.0 MiB (50%)", draws[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Report_Completion_IsAlwaysDrawnAndClearRemovesTheLine()
    {
        var time = new ManualTime();
        using var writer = new StringWriter();
        var line = new ProgressLine(writer, "x", time, enabled: true);

        line.Report(1, 10);
        line.Report(10, 10);
        line.Clear();

        Assert.Contains("(100%)", writer.ToString(), StringComparison.Ordinal);
        Assert.EndsWith("\r", writer.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Report_WhenNotATerminal_PrintsNothing()
    {
        using var writer = new StringWriter();
        var line = new ProgressLine(writer, "x", new ManualTime(), enabled: false);

        line.Report(5, 10);
        line.Clear();

        Assert.Empty(writer.ToString());
    }

    private sealed class ManualTime : TimeProvider
    {
        private long ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => ticks;

        public void Advance(TimeSpan by) => ticks += by.Ticks;
    }
}
