namespace TorchFerry.Format.Inspection;

/// <summary>A tensor built by a torch function TorchFerry does not support.</summary>
/// <param name="Path">Dotted path from the root.</param>
/// <param name="Function">The rebuild function, e.g. <c>torch._utils._rebuild_qtensor</c>.</param>
public sealed record UnsupportedTensor(string Path, string Function);
