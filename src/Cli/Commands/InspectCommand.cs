using System.CommandLine;
using TorchFerry.Archive;
using TorchFerry.Cli.Output;
using TorchFerry.Inspection;

namespace TorchFerry.Cli.Commands;

/// <summary><c>torchferry inspect FILE [--json]</c>.</summary>
internal static class InspectCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var file = new Argument<string>("FILE") { Description = "A torch.save archive (tensor, module, state dict or Flyte PyTorchCheckpoint)." };
        var json = new Option<bool>("--json") { Description = "Print the description as JSON (schema in docs/inspect-json.md)." };
        var command = new Command("inspect", "Describe an artifact: kind, every tensor with its path, dtype, shape and device, the storages and totals.")
        {
            file,
            json,
        };
        command.SetAction((parse, cancellationToken) => CommandErrors.RunAsync(error, async () =>
        {
            using var source = FileSource.Open(parse.GetValue(file)!);
            var archive = await TorchArchive.OpenAsync(source, cancellationToken: cancellationToken).ConfigureAwait(false);
            var description = ArtifactInspector.Describe(archive);
            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(InspectJson.Serialize(description)).ConfigureAwait(false);
            }
            else
            {
                InspectText.Write(output, description);
            }

            return CommandErrors.Ok;
        }));
        return command;
    }
}
