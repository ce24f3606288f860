using TorchFerry.Format.Archive;
using TorchFerry.Format.Inspection;

namespace TorchFerry.Format.Tests;

/// <summary>Describes an archive on local disk with the engine alone, as <c>torchferry inspect</c> would.</summary>
internal static class LocalInspection
{
    public static async Task<ArtifactDescription> DescribeAsync(string path)
    {
        using var source = FileSource.Open(path);
        return ArtifactInspector.Describe(await TorchArchive.OpenAsync(source));
    }
}
