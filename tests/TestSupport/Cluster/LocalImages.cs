namespace TorchFerry.TestSupport.Cluster;

/// <summary>
/// What the sandbox's kubelet runs for an image: the TorchFerry image's entry point is the published
/// `torchferry` binary (artifacts/image/app, laid out as the Dockerfile builds it); a flytekit image
/// runs the pyflyte-execute stand-in with Debian's Python and PyTorch; busybox runs the host's tools.
/// A container of any other image fails as an image pull would.
/// </summary>
public sealed class LocalImages(string torchFerryRepository, string flytekitRepository)
{
    public string TorchFerryRepository { get; } = torchFerryRepository;

    public string FlytekitRepository { get; } = flytekitRepository;

    /// <summary>The program and arguments for a container, or null when the image is not known here (ErrImagePull).</summary>
    public (string File, IReadOnlyList<string> Args)? Resolve(string image, IReadOnlyList<string> command, IReadOnlyList<string> args)
    {
        var repository = Repository(image);
        IReadOnlyList<string> words = [.. command, .. args];
        if (repository == TorchFerryRepository)
        {
            // ENTRYPOINT ["/app/cli/torchferry"]; a command replaces it.
            return command.Count == 0 ? (PublishedImage.Cli, args) : (command[0].Replace("/app/", PublishedImage.App + "/", StringComparison.Ordinal), [.. command.Skip(1), .. args]);
        }

        if (repository == FlytekitRepository)
        {
            return (TorchOracle.Python, [Path.Combine(AppContext.BaseDirectory, "python", "pyflyte_execute.py"), .. words]);
        }

        if (repository is "busybox" or "docker.io/library/busybox" && words.Count > 0)
        {
            return (words[0] == "sleep" ? "/bin/sleep" : words[0], words.Skip(1).ToList());
        }

        return null;
    }

    /// <summary>The user an image runs as when the pod does not say (its USER): the TorchFerry image is non-root, the others root.</summary>
    public int UserOf(string image) => Repository(image) == TorchFerryRepository ? 1654 : 0;

    private static string Repository(string image)
    {
        var at = image.IndexOf('@', StringComparison.Ordinal);
        var name = at >= 0 ? image[..at] : image;
        var colon = name.LastIndexOf(':');
        return colon > name.LastIndexOf('/') ? name[..colon] : name;
    }
}
