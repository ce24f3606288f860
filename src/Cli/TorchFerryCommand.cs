using System.CommandLine;
using System.Runtime.InteropServices;
using TorchFerry.Cli.Commands;
using TorchFerry.Runtime.Hosting;

namespace TorchFerry.Cli;

/// <summary>The <c>torchferry</c> command line: its subcommands and how errors become exit codes.</summary>
internal static class TorchFerryCommand
{
    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error) =>
        RunAsync(args, new CommandContext(output, error));

    public static async Task<int> RunAsync(string[] args, CommandContext context)
    {
        var (output, error) = (context.Output, context.Error);
        var root = new RootCommand("TorchFerry: inspect and relocate PyTorch artifacts (torch.save archives) without loading tensors.");
        root.Subcommands.Add(InspectCommand.Create(context));
        root.Subcommands.Add(ConvertCommand.Create(context));
        root.Subcommands.Add(CrdsCommand.Create(context));
        root.Subcommands.Add(PrepareInputsCommand.Create(context));
        var configuration = new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false };
        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cancellation.Cancel();
        };
        Console.CancelKeyPress += onCancel;

        // SIGTERM (what Kubernetes and timeout send) is an interruption like Ctrl-C: the temporary
        // file goes, one line says so, and the exit code is 128 + 15.
        var terminated = false;
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, signal =>
        {
            signal.Cancel = true;
            terminated = true;
            cancellation.Cancel();
        });
        try
        {
            var exitCode = await CommandLine.InvokeAsync(root, "torchferry", args, error, configuration, cancellationToken: cancellation.Token).ConfigureAwait(false);
            return terminated && exitCode == CommandErrors.Cancelled ? CommandErrors.Terminated : exitCode;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }
}
