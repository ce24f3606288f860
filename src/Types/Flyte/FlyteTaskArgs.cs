namespace TorchFerry.Flyte;

/// <summary>How flytekit's task entry points are invoked in a Flyte task container.</summary>
public static class FlyteTaskArgs
{
    /// <summary>Flyte's largest LiteralMap TorchFerry reads whole (inputs.pb, outputs.pb).</summary>
    public const long MaxLiteralMapBytes = 64L * 1024 * 1024;

    private static readonly string[] Entrypoints = ["pyflyte-execute", "pyflyte-fast-execute", "pyflyte-map-execute"];

    /// <summary>Whether a command word is one of flytekit's task entry points (any path prefix).</summary>
    public static bool IsEntrypoint(string word) => Entrypoints.Contains(Path.GetFileName(word));

    /// <summary>The value after <paramref name="flag"/> (e.g. <c>--inputs</c>), or null.</summary>
    public static string? ValueOf(IList<string> args, string flag)
    {
        ArgumentNullException.ThrowIfNull(args);
        var at = args.IndexOf(flag);
        return at >= 0 && at + 1 < args.Count ? args[at + 1] : null;
    }
}
