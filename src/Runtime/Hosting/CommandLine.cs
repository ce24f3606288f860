using System.CommandLine;

namespace TorchFerry.Runtime.Hosting;

/// <summary>How the operator and the webhook treat their command lines: a bad argument is one line on standard error and exit 2.</summary>
internal static class CommandLine
{
    public const int Usage = 2;

    /// <summary>Parses <paramref name="args"/>; on errors prints them (each naming the argument) and returns 2 without running.</summary>
    public static async Task<int> InvokeAsync(RootCommand root, string[] args, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(error);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var problem in parsed.Errors)
            {
                await error.WriteLineAsync($"{root.Name}: {problem.Message}").ConfigureAwait(false);
            }

            return Usage;
        }

        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false }).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            await error.WriteLineAsync($"{root.Name}: {e.Message}").ConfigureAwait(false);
            return Usage;
        }
    }
}
