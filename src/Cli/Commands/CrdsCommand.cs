using System.CommandLine;
using TorchFerry.Crds;
using TorchFerry.Yaml;

namespace TorchFerry.Cli.Commands;

/// <summary><c>torchferry crds [--output DIR]</c>: the CustomResourceDefinitions, generated from the C# types.</summary>
internal static class CrdsCommand
{
    public static Command Create(CommandContext context)
    {
        var output = new Option<string?>("--output", "-o") { Description = "Write one file per CRD into this folder (config/crd in the repository) instead of printing them." };
        var command = new Command("crds", "Print or write TorchFerry's CustomResourceDefinitions (kubectl apply -f -).") { output };
        command.SetAction((parse, cancellationToken) => CommandErrors.RunAsync(context.Error, async () =>
        {
            var folder = parse.GetValue(output);
            foreach (var crd in CrdCatalog.All)
            {
                var yaml = YamlWriter.Write(CrdGenerator.Generate(crd));
                if (folder is null)
                {
                    await context.Output.WriteAsync("---\n" + yaml).ConfigureAwait(false);
                }
                else
                {
                    Directory.CreateDirectory(folder);
                    await File.WriteAllTextAsync(Path.Combine(folder, CrdGenerator.FileName(crd)), yaml, cancellationToken).ConfigureAwait(false);
                }
            }

            return CommandErrors.Ok;
        }));
        return command;
    }
}
