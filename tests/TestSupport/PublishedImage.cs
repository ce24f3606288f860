namespace TorchFerry.TestSupport;

/// <summary>
/// The binaries as the image holds them (scripts/publish.sh into artifacts/image/app, which test.sh
/// runs first): the natively compiled <c>torchferry</c> that the init container and users run, the
/// operator and the webhook.
/// </summary>
public static class PublishedImage
{
    /// <summary>The folder holding the published binaries (cli/, operator/, webhook/).</summary>
    public static string App { get; } = Path.Combine(RepositoryPaths.Root, "artifacts", "image", "app");

    private static readonly Lazy<string> CheckedCli = new(FindCli);

    /// <summary>The native <c>torchferry</c>; fails clearly when it is missing or older than the sources it is built from (checked once per test process).</summary>
    public static string Cli => CheckedCli.Value;

    private static string FindCli()
    {
        var cli = Path.Combine(App, "cli", "torchferry");
        if (!File.Exists(cli))
        {
            throw new InvalidOperationException($"{cli} is missing: run scripts/publish.sh artifacts/image/app");
        }

        var built = File.GetLastWriteTimeUtc(cli);
        var newer = new[] { "Cli", "Format", "Storage", "Types" }
            .SelectMany(project => Directory.EnumerateFiles(Path.Combine(RepositoryPaths.Root, "src", project), "*.cs", SearchOption.AllDirectories))
            .Where(source => !source.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .FirstOrDefault(source => File.GetLastWriteTimeUtc(source) > built);
        return newer is null ? cli : throw new InvalidOperationException($"{cli} is older than {newer}: run scripts/publish.sh artifacts/image/app");
    }
}
