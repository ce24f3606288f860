using System.CommandLine;
using TorchFerry.Cli.PrepareInputs;
using TorchFerry.Contract;
using TorchFerry.Storage;

namespace TorchFerry.Cli.Commands;

/// <summary><c>torchferry prepare-inputs --source URI --target URI --device D</c>: the webhook's init container.</summary>
internal static class PrepareInputsCommand
{
    public static Command Create(CommandContext context)
    {
        var source = new Option<string>("--source") { Description = "The task's inputs LiteralMap (inputs.pb).", Required = true };
        var target = new Option<string>("--target") { Description = "Where to write the prepared LiteralMap (the task's rewritten --inputs).", Required = true };
        var device = new Option<string>("--device") { Description = "The device the task runs on (cpu, cuda:N).", Required = true };
        var timeout = new Option<double>("--timeout") { Description = "Seconds in all: what has no variant by then is passed on unchanged.", DefaultValueFactory = _ => 300 };
        var operatorWait = new Option<double>("--operator-wait") { Description = "Seconds to wait for the operator's variants before converting the missing ones here.", DefaultValueFactory = _ => 10 };
        var arrayIndex = new Option<int?>("--array-index") { Description = "For a map task's subtask: only item N of each collection input is prepared; the rest is passed on as it is." };
        var variantPrefix = new Option<string?>("--variant-prefix") { Description = "The bucket-level prefix the operator lays variants under (its --variant-prefix); unset: beside their sources." };
        var poll = new Option<double>("--poll") { Description = "Seconds between checks.", DefaultValueFactory = _ => 2 };
        var command = new Command("prepare-inputs", "Point a Flyte task's PyTorch inputs at their variants for its device (run by the webhook's init container).")
        {
            source, target, device, timeout, poll, operatorWait, arrayIndex, variantPrefix,
        };
        command.SetAction((parse, cancellationToken) => CommandErrors.RunAsync(context.Error, async () =>
        {
            var wanted = TorchDevice.Parse(parse.GetValue(device), "--device");

            // The webhook checks the prefix before handing it on; one that is still bad is said and
            // variants are looked for beside their sources (an init container must not fail where
            // the task would not).
            var layout = VariantLayout.Beside;
            if (parse.GetValue(variantPrefix) is { } prefix)
            {
                if (VariantLayout.Problem(prefix) is { } problem)
                {
                    await context.Error.WriteLineAsync($"torchferry: prepare-inputs: --variant-prefix: {problem}; looking for variants beside their sources").ConfigureAwait(false);
                }
                else
                {
                    layout = VariantLayout.Under(prefix);
                }
            }

            var log = context.CreateLog(verbose: false);
            using var stores = context.CreateStores(log, durable: true);
            return await new InputPreparer(stores, layout, TimeProvider.System, context.Error).PrepareAsync(
                StorageUri.Parse(parse.GetValue(source)!),
                StorageUri.Parse(parse.GetValue(target)!),
                wanted,
                TimeSpan.FromSeconds(parse.GetValue(timeout)),
                TimeSpan.FromSeconds(parse.GetValue(poll)),
                TimeSpan.FromSeconds(parse.GetValue(operatorWait)),
                parse.GetValue(arrayIndex),
                cancellationToken).ConfigureAwait(false);
        }));
        return command;
    }
}
