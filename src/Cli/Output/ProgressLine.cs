namespace TorchFerry.Cli.Output;

/// <summary>
/// A single progress line on a terminal, redrawn at most every 200 ms and cleared at the end; silent
/// when standard error is not a terminal (logs and pipes get no carriage returns).
/// </summary>
internal sealed class ProgressLine(TextWriter writer, string label, TimeProvider time, bool enabled)
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);
    private long lastDrawn = long.MinValue;
    private bool drawn;

    public void Report(long done, long total)
    {
        if (!enabled)
        {
            return;
        }

        var now = time.GetTimestamp();
        if (done < total && lastDrawn != long.MinValue && time.GetElapsedTime(lastDrawn, now) < Interval)
        {
            return;
        }

        lastDrawn = now;
        var percent = total == 0 ? 100 : done * 100 / total;
        writer.Write($"\r{label}: {ByteSize.Format(done)} / {ByteSize.Format(total)} ({percent}%)   ");
        drawn = true;
    }

    public void Clear()
    {
        if (drawn)
        {
            writer.Write("\r" + new string(' ', label.Length + 48) + "\r");
            drawn = false;
        }
    }
}
