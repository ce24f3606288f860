using System.CommandLine;
using TorchFerry.Cli.Output;
using TorchFerry.Conversion;

namespace TorchFerry.Cli.Commands;

/// <summary><c>torchferry convert SRC DST --device D [--map FROM=TO]... [--force]</c>.</summary>
internal static class ConvertCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var source = new Argument<string>("SRC") { Description = "The torch.save archive to read (never modified)." };
        var destination = new Argument<string>("DST") { Description = "Where to write the converted archive (written whole or not at all)." };
        var device = new Option<string?>("--device", "-d") { Description = "Device every storage goes to: cpu, cuda, cuda:N (like map_location='cpu')." };
        var map = new Option<string[]>("--map") { Description = "Per-location mapping FROM=TO, e.g. cuda:1=cuda:0 (like a map_location dict); repeatable.", AllowMultipleArgumentsPerToken = false };
        var force = new Option<bool>("--force", "-f") { Description = "Replace DST if it exists." };
        var noVerify = new Option<bool>("--no-verify") { Description = "Skip checking each copied record's CRC-32 (torch does not check them either)." };
        var noFsync = new Option<bool>("--no-fsync") { Description = "Do not flush DST to disk before renaming it into place (faster; a crash may then leave a partial file)." };
        var command = new Command("convert", "Rewrite the device every storage is recorded on; storage bytes are copied untouched, only data.pkl changes.")
        {
            source,
            destination,
            device,
            map,
            force,
            noVerify,
            noFsync,
        };
        command.SetAction((parse, cancellationToken) => CommandErrors.RunAsync(error, async () =>
        {
            var deviceMap = DeviceMap.Create(parse.GetValue(device), parse.GetValue(map));
            var from = parse.GetValue(source)!;
            var to = parse.GetValue(destination)!;
            var progress = new ProgressLine(error, $"converting {Path.GetFileName(from)}", TimeProvider.System, !Console.IsErrorRedirected);
            RelocationReport report;
            try
            {
                report = await LocalArtifactConverter.ConvertAsync(from, to, deviceMap, parse.GetValue(force), progress.Report, options: new RelocationOptions { VerifyChecksums = !parse.GetValue(noVerify), Durable = !parse.GetValue(noFsync) }, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                progress.Clear();
            }

            var before = string.Join(", ", report.LocationsBefore.Select(kv => $"{kv.Key} ×{kv.Value}"));
            if (report.AlreadyOnTarget)
            {
                await output.WriteLineAsync($"{from}: all {report.Storages} storages already on {deviceMap}; wrote an unchanged copy to {to} ({ByteSize.Format(report.BytesWritten)})").ConfigureAwait(false);
            }
            else
            {
                var after = string.Join(", ", report.LocationsAfter.Select(kv => $"{kv.Key} ×{kv.Value}"));
                await output.WriteLineAsync($"{from} -> {to}: {report.StoragesRelocated} of {report.Storages} storages relocated ({before} => {after}); {ByteSize.Format(report.RecordBytesCopied)} of records copied untouched, {ByteSize.Format(report.BytesWritten)} written").ConfigureAwait(false);
            }

            return CommandErrors.Ok;
        }));
        return command;
    }
}
