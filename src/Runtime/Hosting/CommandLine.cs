using System.CommandLine;
using System.CommandLine.Parsing;

namespace TorchFerry.Runtime.Hosting;

/// <summary>
/// How every TorchFerry command line treats bad arguments: one line per problem on standard error,
/// naming the argument, and exit 2, never a help page or a stack trace. The <c>torchferry</c> CLI
/// compiles this file in too (it does not reference the controller runtime).
/// </summary>
internal static class CommandLine
{
    public const int Usage = 2;

    /// <summary>Parses <paramref name="args"/>; on errors prints them and returns 2 without running; an <see cref="ArgumentException"/> from the action is one line and 2 as well.</summary>
    /// <param name="root">The command line.</param>
    /// <param name="program">The program's name for messages (<c>torchferry</c>), whatever process hosts it.</param>
    /// <param name="args">The arguments.</param>
    /// <param name="error">Where problems go.</param>
    /// <param name="configuration">Where the command writes.</param>
    /// <param name="terminationTimeout">
    /// How long the action may take to finish after SIGTERM or SIGINT (which cancel its token) before the
    /// process is ended: servers pass their configured grace period, instead of System.CommandLine's 2 s.
    /// </param>
    /// <param name="cancellationToken">Ends the command.</param>
    public static async Task<int> InvokeAsync(RootCommand root, string program, string[] args, TextWriter error, InvocationConfiguration? configuration = null, Func<ParseResult, TimeSpan>? terminationTimeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(error);
        var parsed = root.Parse(args);
        var problems = Problems(parsed, program).Distinct(StringComparer.Ordinal).ToList();
        if (problems.Count > 0)
        {
            foreach (var problem in problems)
            {
                await error.WriteLineAsync($"{program}: {problem}").ConfigureAwait(false);
            }

            return Usage;
        }

        try
        {
            configuration ??= new InvocationConfiguration();
            configuration.EnableDefaultExceptionHandler = false;
            if (terminationTimeout is not null)
            {
                configuration.ProcessTerminationTimeout = terminationTimeout(parsed);
            }

            return await parsed.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
        }
        catch (ArgumentException e)
        {
            await error.WriteLineAsync($"{program}: {e.Message}").ConfigureAwait(false);
            return Usage;
        }
    }

    /// <summary>A whole number of seconds from <paramref name="minimum"/> to 3600, refused with one line otherwise.</summary>
    public static Option<int> Seconds(string name, string description, int defaultValue, int minimum)
    {
        var option = new Option<int>(name) { Description = $"{description} ({minimum} to 3600).", DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            // A value that is not a number is already the parser's error.
            if (result.Tokens is [.., var token] && int.TryParse(token.Value, System.Globalization.CultureInfo.InvariantCulture, out var seconds) && (seconds < minimum || seconds > 3600))
            {
                result.AddError($"{name} must be from {minimum} to 3600 seconds");
            }
        });
        return option;
    }

    /// <summary>An optional text whose value <paramref name="problem"/> checks: its answer, when not null, is the one-line refusal.</summary>
    public static Option<string?> Checked(string name, string description, Func<string, string?> problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var option = new Option<string?>(name) { Description = description };
        option.Validators.Add(result =>
        {
            if (result.Tokens is [.., var token] && problem(token.Value) is { } refusal)
            {
                result.AddError(refusal);
            }
        });
        return option;
    }

    /// <summary>The parse errors as lines that name the argument and say where help is.</summary>
    public static IEnumerable<string> Problems(ParseResult parsed, string program)
    {
        ArgumentNullException.ThrowIfNull(parsed);
        var help = $"see '{string.Join(' ', [program, .. Path(parsed.CommandResult)])} --help'";
        var missing = parsed.CommandResult.Command.Arguments
            .Where(a => parsed.GetResult(a) is not { Tokens.Count: > 0 } && a.Arity.MinimumNumberOfValues > 0)
            .Select(a => a.Name)
            .ToList();
        // System.CommandLine lets an unknown option fill an argument (SRC = "--bogus"); name it instead.
        var unknown = parsed.Tokens
            .TakeWhile(t => t.Type != TokenType.DoubleDash)
            .Where(t => t.Type == TokenType.Argument && t.Value.Length > 1 && t.Value[0] == '-')
            .ToList();
        foreach (var token in unknown)
        {
            yield return $"unknown option '{token.Value}' ({help})";
        }

        if (unknown.Count > 0)
        {
            yield break;
        }

        foreach (var error in parsed.Errors)
        {
            yield return error.Message.StartsWith("Required argument missing", StringComparison.Ordinal) && missing.Count > 0
                ? $"missing argument {string.Join(", ", missing)} ({help})"
                : $"{error.Message.TrimEnd('.')} ({help})";
        }
    }

    private static Stack<string> Path(SymbolResult? result)
    {
        var names = new Stack<string>();
        for (var at = result; at is not null; at = at.Parent)
        {
            if (at is CommandResult { Parent: not null } command)
            {
                names.Push(command.Command.Name);
            }
        }

        return names;
    }
}
