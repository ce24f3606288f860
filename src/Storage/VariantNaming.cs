namespace TorchFerry.Storage;

/// <summary>
/// Where the variant of an artifact for a device lives: beside the source, named after it and the
/// device. The operator writes variants there and the serializer looks for them there.
/// </summary>
public static class VariantNaming
{
    /// <summary><c>s3://b/x/ck.pt</c> for <c>cuda:1</c> gives <c>s3://b/x/ck.torchferry-cuda1.pt</c>.</summary>
    public static StorageUri UriFor(StorageUri source, string device)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(device);
        var tag = "torchferry-" + device.Replace(":", string.Empty, StringComparison.Ordinal);
        var name = source.Name;
        var dot = name.LastIndexOf('.');
        return source.WithName(dot > 0 ? $"{name[..dot]}.{tag}{name[dot..]}" : $"{name}.{tag}");
    }
}
