namespace TorchFerry.Flyte;

/// <summary>A PyTorch blob found in a Flyte LiteralMap.</summary>
/// <param name="Path">Where it is: the input/output name, then [i] for collection items and .key for map entries, e.g. <c>models[1]</c>.</param>
/// <param name="Format">PyTorchTensor, PyTorchModule or PyTorchCheckpoint.</param>
/// <param name="Uri">The blob's URI.</param>
public sealed record PyTorchBlob(string Path, string Format, string Uri);
