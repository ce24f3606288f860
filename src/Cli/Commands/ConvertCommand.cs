using System.CommandLine;
using TorchFerry.Cli.Output;
using TorchFerry.Format.Conversion;
using TorchFerry.Storage;
using TorchFerry.Storage.Conversion;

namespace TorchFerry.Cli.Commands;

/// <summary><c>torchferry convert SRC DST --device D [--map FROM=TO]... [--force]</c>.</summary>
internal static class ConvertCommand
{
    public static Command Create(CommandContext context)
    {
        var source = new Argument<string>("SRC") { Description = "The torch.save archive to read (never modified): a path, file:// or s3://bucket/key." };
        var destination = new Argument<string>("DST") { Description = "Where to write the converted archive (written whole or not at all): a path, file:// or s3://bucket/key." };
        var device = new Option<string?>("--device", "-d") { Description = "Device every storage goes to: cpu, cuda or cuda:N (like map_location='cpu'); cuda means cuda:0." };
        var map = new Option<string[]>("--map") { Description = "Per-location mapping FROM=TO, e.g. cuda:1=cuda:0 (like a map_location dict); repeatable.", AllowMultipleArgumentsPerToken = false };
        var force = new Option<bool>("--force", "-f") { Description = "Replace DST if it exists." };
        var noVerify = new Option<bool>("--no-verify") { Description = "Skip checking each copied record's CRC-32 (torch does not check them either)." };
        var verifyClones = new Option<bool>("--verify-clones") { Description = "Also check the CRC-32 of records DST shares with SRC (cloned on XFS or btrfs): reads the whole source to learn whether it was already corrupt." };
        var noFsync = new Option<bool>("--no-fsync") { Description = "Do not flush a local DST to disk before renaming it into place (faster; a crash may then leave a partial file)." };
        var weightsOnly = new Option<bool>("--weights-only") { Description = "Also make the result load with torch.load(weights_only=True), torch's default from 2.6: dataclasses and NamedTuples become plain dicts and tuples; refused, converting nothing, where that would lose data." };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log what the stores do (server-side copy, retries)." };
        var command = new Command("convert", "Rewrite the device every storage is recorded on; storage bytes are copied untouched, only data.pkl changes.")
        {
            source,
            destination,
            device,
            map,
            force,
            noVerify,
            verifyClones,
            noFsync,
            weightsOnly,
            verbose,
        };
        command.SetAction((parse, cancellationToken) => CommandErrors.RunAsync(context.Error, async () =>
        {
            var deviceMap = DeviceArguments.Parse(parse.GetValue(device), parse.GetValue(map));
            var from = StorageUri.Parse(parse.GetValue(source)!);
            var to = StorageUri.Parse(parse.GetValue(destination)!);
            var log = context.CreateLog(parse.GetValue(verbose));
            using var stores = context.CreateStores(log, durable: !parse.GetValue(noFsync));
            var progress = new ProgressLine(context.Error, $"converting {from.Name}", TimeProvider.System, !Console.IsErrorRedirected);
            StoreConversionReport result;
            try
            {
                result = await new StoreArtifactConverter(stores).ConvertAsync(
                    from,
                    to,
                    deviceMap,
                    parse.GetValue(force),
                    progress.Report,
                    new RelocationOptions { VerifyChecksums = !parse.GetValue(noVerify), VerifyClones = parse.GetValue(verifyClones), Durable = !parse.GetValue(noFsync), WeightsOnly = parse.GetValue(weightsOnly) },
                    cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                progress.Clear();
            }

            await context.Output.WriteLineAsync(Summary(from, to, deviceMap, result)).ConfigureAwait(false);
            return CommandErrors.Ok;
        }));
        return command;
    }

    private static string Summary(StorageUri from, StorageUri to, DeviceMap map, StoreConversionReport result)
    {
        var report = result.Relocation;
        var moved = $"{ByteSize.Format(result.Destination.Size)} written, {ByteSize.Format(result.BytesThroughProcess)} through this process, "
            + (report.RecordBytesCloned > 0 ? $"{ByteSize.Format(report.RecordBytesCloned)} cloned (blocks shared with the source), {ByteSize.Format(result.BytesCopiedByStore - report.RecordBytesCloned)} copied by the kernel" : $"{ByteSize.Format(result.BytesCopiedByStore)} copied by the {(to.Scheme == StorageScheme.S3 ? "store" : "kernel")}");
        var weightsOnly = report.WeightsOnlyChanges switch
        {
            null => string.Empty,
            [] => "; loads with weights_only as it was",
            var changes => $"; for weights_only: {string.Join(", ", changes)}",
        };
        if (report.AlreadyOnTarget)
        {
            return $"{from}: all {report.Storages} storages already on {map}; wrote {(report.WeightsOnlyChanges is null or [] ? "an unchanged copy" : "a copy")} to {to} ({moved}){weightsOnly}";
        }

        var before = string.Join(", ", report.LocationsBefore.Select(kv => $"{kv.Key} ×{kv.Value}"));
        var after = string.Join(", ", report.LocationsAfter.Select(kv => $"{kv.Key} ×{kv.Value}"));
        return $"{from} -> {to}: {report.StoragesRelocated} of {report.Storages} storages relocated ({before} => {after}); {moved}{weightsOnly}";
    }
}
