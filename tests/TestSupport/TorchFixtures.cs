namespace TorchFerry.TestSupport;

/// <summary>
/// The torch oracle and a folder for fixtures, shared by a test collection (one Python process
/// per test run, not one per test).
/// </summary>
public sealed class TorchFixtures : IDisposable
{
    private readonly Dictionary<string, string> made = new(StringComparer.Ordinal);
    private readonly Lock gate = new();

    public TorchOracle Torch { get; } = new();

    public TemporaryDirectory Directory { get; } = new();

    /// <summary>The GPU-tagged fixture file for a case, made on first use.</summary>
    public string GpuFile(string fixtureCase, string location = "cuda:0", bool constantTagger = false)
    {
        var key = $"{fixtureCase}-{location.Replace(':', '_')}{(constantTagger ? "-constant" : string.Empty)}";
        lock (gate)
        {
            if (!made.TryGetValue(key, out var path))
            {
                path = Directory.File(key + ".pt");
                Torch.Make(fixtureCase, path, location, constantTagger);
                made[key] = path;
            }

            return path;
        }
    }

    public void Dispose()
    {
        Torch.Dispose();
        Directory.Dispose();
    }
}
