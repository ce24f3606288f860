namespace TorchFerry.TestSupport;

/// <summary>Paths in the repository the tests run from.</summary>
public static class RepositoryPaths
{
    /// <summary>The repository root (the folder holding Operator.sln).</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>tests/tools, where the npm test peers are installed.</summary>
    public static string Tools => Path.Combine(Root, "tests", "tools");

    private static string FindRoot()
    {
        // Tests run from their bin folder inside the repository; published bench tools from anywhere, started in the root.
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Operator.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new InvalidOperationException($"no Operator.sln above {AppContext.BaseDirectory} or {Environment.CurrentDirectory}");
    }
}
