using System.Diagnostics;

namespace TorchFerry.TestSupport.Cluster;

/// <summary>What happened in the sandbox, in order, with the seconds since it started: the demo prints it, tests read it.</summary>
public sealed class Timeline
{
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly List<(TimeSpan At, string Source, string What)> entries = [];

    /// <summary>Called with every new entry (the demo prints as it goes).</summary>
    public Action<string>? Written { get; set; }

    public void Add(string source, string what)
    {
        var at = clock.Elapsed;
        lock (entries)
        {
            entries.Add((at, source, what));
        }

        Written?.Invoke(Format(at, source, what));
    }

    public IReadOnlyList<(TimeSpan At, string Source, string What)> Entries
    {
        get
        {
            lock (entries)
            {
                return [.. entries];
            }
        }
    }

    /// <summary>When the first entry from <paramref name="source"/> containing <paramref name="text"/> was added, or null.</summary>
    public TimeSpan? When(string source, string text) =>
        Entries.Where(e => e.Source == source && e.What.Contains(text, StringComparison.Ordinal)).Select(e => (TimeSpan?)e.At).FirstOrDefault();

    public override string ToString() => string.Join(Environment.NewLine, Entries.Select(e => Format(e.At, e.Source, e.What)));

    private static string Format(TimeSpan at, string source, string what) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{at.TotalSeconds,7:0.00}s  {source,-10} {what}");
}
