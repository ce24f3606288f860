namespace TorchFerry.Contract;

/// <summary>
/// Which inputs the prepare-inputs init container can read (src/Storage reads s3:// and file://):
/// the webhook gives the inputs step only to pods whose <c>--inputs</c> is one of them. A task on
/// gs:// or abfs:// keeps its inputs as they are rather than get a step that cannot read them.
/// </summary>
public static class InputsUris
{
    private static readonly string[] Readable = ["s3://", "file://"];

    public static bool IsReadable(string uri) => Readable.Any(scheme => uri.StartsWith(scheme, StringComparison.OrdinalIgnoreCase));
}
