using System.CommandLine;
using TorchFerry.Crds;

namespace TorchFerry.Cli.Commands;

/// <summary>
/// <c>torchferry crds [--output DIR]</c>: the CustomResourceDefinitions this release installs, the files
/// of config/crd carried in the binary (they are generated from the C# types and checked against them
/// by the tests; the native binary has no reflection over those types).
/// </summary>
internal static class CrdsCommand
{
    public static Command Create(CommandContext context)
    {
        var output = new Option<string?>("--output", "-o") { Description = "Write one file per CRD into this folder instead of printing them." };
        var command = new Command("crds", "Print or write TorchFerry's CustomResourceDefinitions (kubectl apply -f -).") { output };
        command.SetAction((parse, cancellationToken) => CommandErrors.RunAsync(context.Error, async () =>
        {
            var folder = parse.GetValue(output);
            foreach (var crd in CrdCatalog.All)
            {
                var yaml = await ReadAsync(crd, cancellationToken).ConfigureAwait(false);
                if (folder is null)
                {
                    await context.Output.WriteAsync("---\n" + yaml).ConfigureAwait(false);
                }
                else
                {
                    Directory.CreateDirectory(folder);
                    await File.WriteAllTextAsync(Path.Combine(folder, crd.FileName), yaml, cancellationToken).ConfigureAwait(false);
                }
            }

            return CommandErrors.Ok;
        }));
        return command;
    }

    private static async Task<string> ReadAsync(CrdDescription crd, CancellationToken cancellationToken)
    {
        var name = "crds/" + crd.FileName; // LogicalName in Cli.csproj
        await using var stream = typeof(CrdsCommand).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"the binary carries no {name}");
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
    }
}
