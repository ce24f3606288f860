using System.Reflection;
using System.Runtime.Loader;
using TorchFerry.Format.Archive;
using TorchFerry.TestSupport;

namespace TorchFerry.Cli.Tests;

/// <summary>The format engine and <c>torchferry convert</c> carry no Kubernetes.</summary>
[Collection(TorchCollection.Name)]
public sealed class DependencyTests(TorchFixtures fixtures)
{
    [Fact]
    public void FormatEngine_ReferencesNothingButTheBaseLibraryAndSystemIoHashing()
    {
        var references = typeof(TorchArchive).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();

        Assert.All(references, name => Assert.True(name.StartsWith("System", StringComparison.Ordinal) || name == "netstandard", $"TorchFerry.Format references {name}"));
        Assert.Contains("System.IO.Hashing", references);
    }

    [Fact]
    public void Convert_DoesNotLoadKubernetesClient_WhileCrdsDoes()
    {
        using var folder = new TemporaryDirectory();

        var convert = RunIsolated("convert", fixtures.GpuFile("tensor"), folder.File("x.pt"), "--device", "cpu");
        var crds = RunIsolated("crds", "--output", folder.Path);

        Assert.Equal(0, convert.ExitCode);
        Assert.DoesNotContain("KubernetesClient", convert.Loaded);
        Assert.DoesNotContain("YamlDotNet", convert.Loaded);
        Assert.Contains("TorchFerry.Format", convert.Loaded);
        Assert.Equal(0, crds.ExitCode);
        Assert.Contains("KubernetesClient", crds.Loaded); // the check can see a load when there is one
    }

    // The real torchferry entry point in a fresh load context that resolves from the build output,
    // so what it loads is what a process running only this command would load.
    private static (int ExitCode, IReadOnlyList<string> Loaded) RunIsolated(params string[] args)
    {
        var context = new BuildOutputContext(AppContext.BaseDirectory);
        try
        {
            var cli = context.LoadFromAssemblyPath(Path.Combine(AppContext.BaseDirectory, "torchferry.dll"));
            var exitCode = (int)cli.EntryPoint!.Invoke(null, [args])!;
            return (exitCode, context.Assemblies.Select(a => a.GetName().Name!).ToList());
        }
        finally
        {
            context.Unload();
        }
    }

    private sealed class BuildOutputContext(string folder) : AssemblyLoadContext("torchferry-isolated", isCollectible: true)
    {
        protected override Assembly? Load(AssemblyName assemblyName)
        {
            var path = Path.Combine(folder, assemblyName.Name + ".dll");
            return File.Exists(path) ? LoadFromAssemblyPath(path) : null; // the shared framework comes from the default context
        }
    }
}
