namespace TorchFerry.Flyte;

/// <summary>A PyTorch blob found in a Flyte LiteralMap (or, looked for by content, any single blob).</summary>
/// <param name="Path">Where it is: the input/output name, then [i] for collection items and .key for map entries, e.g. <c>models[1]</c>.</param>
/// <param name="Format">PyTorchTensor, PyTorchModule or PyTorchCheckpoint; for a blob found by content, its format string (a FlyteFile's <c>""</c>, <c>pt</c>, ...).</param>
/// <param name="Uri">The blob's URI.</param>
public sealed record PyTorchBlob(string Path, string Format, string Uri)
{
    /// <summary>Whether the format says it is PyTorch (flytekit's three types, one file); otherwise only its content can.</summary>
    public bool ByFormat => !IsDirectory && FlyteLiterals.PyTorchFormats.Contains(Format);

    /// <summary>A MULTIPART blob (a FlyteDirectory): its URI is a folder whose files are the members.</summary>
    public bool IsDirectory { get; init; }
}
