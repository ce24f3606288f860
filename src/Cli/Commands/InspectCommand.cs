using System.CommandLine;
using TorchFerry.Cli.Output;
using TorchFerry.Format.Inspection;
using TorchFerry.Storage;
using TorchFerry.Storage.Conversion;

namespace TorchFerry.Cli.Commands;

/// <summary><c>torchferry inspect URI [--json]</c>.</summary>
internal static class InspectCommand
{
    public static Command Create(CommandContext context)
    {
        var file = new Argument<string>("URI") { Description = "A torch.save archive: a path, file:// or s3://bucket/key (tensor, module, state dict or Flyte PyTorchCheckpoint)." };
        var json = new Option<bool>("--json") { Description = "Print the description as JSON (schema in docs/inspect-json.md)." };
        var command = new Command("inspect", "Describe an artifact: kind, every tensor with its path, dtype, shape and device, the storages and totals.")
        {
            file,
            json,
        };
        command.SetAction((parse, cancellationToken) => CommandErrors.RunAsync(context.Error, async () =>
        {
            var uri = StorageUri.Parse(parse.GetValue(file)!);
            var log = context.CreateLog(verbose: false);
            using var stores = context.CreateStores(log, durable: true);
            var description = await new StoreArtifactConverter(stores).InspectAsync(uri, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await context.Output.WriteLineAsync(InspectJson.Serialize(description)).ConfigureAwait(false);
            }
            else
            {
                InspectText.Write(context.Output, description);
            }

            return CommandErrors.Ok;
        }));
        return command;
    }
}
