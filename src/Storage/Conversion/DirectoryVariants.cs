using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchFerry.Format.Conversion;

namespace TorchFerry.Storage.Conversion;

/// <summary>
/// The variant of a directory of files (a Flyte <c>FlyteDirectory</c>, a MULTIPART blob) for a device:
/// a sibling directory (<c>dir/</c> → <c>dir.torchferry-cpu/</c>) with the same members, each one that
/// is a torch.save archive converted for the device and every other copied as it is (by the store
/// where it can). A directory cannot appear at once: a manifest beside it
/// (<c>dir.torchferry-cpu.json</c>), written last, lists the source members it was made from, and the
/// variant counts only while it matches the source's listing.
/// </summary>
public sealed class DirectoryVariants(ObjectStoreRouter stores, TorchContentProbe probe, VariantLayout layout)
{
    /// <summary>Most members a directory may have to be converted (a listing is read whole).</summary>
    public const int MaxMembers = 10_000;

    private const int CopyBuffer = 1 << 20;

    /// <summary>How members are told apart (shared, so its cache serves single files too).</summary>
    public TorchContentProbe Probe { get; } = probe;

    /// <summary>A folder URI as TorchFerry spells it, ending with '/' (flytekit may write a FlyteDirectory's without).</summary>
    public static string Folder(string uri) => uri.EndsWith('/') ? uri : uri + "/";

    /// <summary>The variant folder of <paramref name="directory"/> for <paramref name="device"/>, where the layout places it (beside it, or under a prefix).</summary>
    public string VariantFor(string directory, string device) => layout.FolderFor(directory, device);

    /// <summary>The manifest of a variant directory: beside it, not in it, so consumers never see it.</summary>
    public static string ManifestFor(string variant) => Trimmed(variant) + ".json";

    /// <summary>Most files of one directory probed to decide whether it holds torch.save archives.</summary>
    public const int MaxProbedMembers = 64;

    private static readonly string[] LikelyExtensions = [".pt", ".pth", ".bin", ".ckpt", ".tar", ".pkl"];

    /// <summary>
    /// Whether one of <paramref name="directory"/>'s files is a torch.save archive: the files with the
    /// extensions torch files usually have are looked at first, at most <see cref="MaxProbedMembers"/>,
    /// and the first one found decides (a folder of ten thousand images costs 64 small reads).
    /// </summary>
    public async Task<bool> HoldsTorchFilesAsync(string directory, CancellationToken cancellationToken)
    {
        var members = (await ListAsync(directory, cancellationToken).ConfigureAwait(false))
            .OrderBy(m => LikelyExtensions.Any(e => m.Relative.EndsWith(e, StringComparison.OrdinalIgnoreCase)) ? 0 : 1)
            .ThenBy(m => m.Relative, StringComparer.Ordinal)
            .Take(MaxProbedMembers);
        foreach (var (_, uri, _) in members)
        {
            if (await Probe.IsTorchArchiveAsync(uri, cancellationToken).ConfigureAwait(false))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// A directory as one object: the bytes of its files, and an ETag of its listing (each file's name
    /// and ETag), which changes when any file does.
    /// </summary>
    /// <exception cref="StorageException">NotFound for a directory without files.</exception>
    public async Task<ObjectInfo> StatAsync(string directory, CancellationToken cancellationToken)
    {
        var listing = await ListAsync(directory, cancellationToken).ConfigureAwait(false);
        if (listing.Count == 0)
        {
            throw new StorageException(StorageErrorKind.NotFound, $"{directory}: no files");
        }

        var lines = string.Join('\n', listing.Select(m => $"{m.Relative}\t{m.Info.ETag}"));
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(lines)))[..32];
        return new ObjectInfo(listing.Sum(m => m.Info.Size), $"\"dir-{hash}\"");
    }

    /// <summary>The files of <paramref name="directory"/> that are torch.save archives, by name within it.</summary>
    public async Task<IReadOnlyList<(string Relative, StorageUri Uri)>> TorchMembersAsync(string directory, CancellationToken cancellationToken)
    {
        var found = new List<(string, StorageUri)>();
        foreach (var (relative, uri, _) in await ListAsync(directory, cancellationToken).ConfigureAwait(false))
        {
            if (await Probe.IsTorchArchiveAsync(uri, cancellationToken).ConfigureAwait(false))
            {
                found.Add((relative, uri));
            }
        }

        return found;
    }

    /// <summary>Removes a variant directory: its manifest first (it stops counting at once), then its files.</summary>
    public async Task DeleteAsync(string variant, CancellationToken cancellationToken)
    {
        var manifest = StorageUri.Parse(ManifestFor(variant));
        await stores.For(manifest).DeleteAsync(manifest, cancellationToken).ConfigureAwait(false);
        foreach (var (_, uri, _) in await ListAsync(variant, cancellationToken).ConfigureAwait(false))
        {
            await stores.For(uri).DeleteAsync(uri, cancellationToken).ConfigureAwait(false);
        }

        if (StorageUri.Parse(variant) is { Scheme: StorageScheme.File } local && Directory.Exists(local.Key))
        {
            Directory.Delete(local.Key, recursive: true); // the folders the files were in
        }
    }

    /// <summary>The variant directory's URI when its manifest matches <paramref name="directory"/>'s current listing for <paramref name="device"/>; otherwise null.</summary>
    /// <remarks><paramref name="weightsOnly"/> null accepts a variant made either way (a consumer can use both).</remarks>
    public async Task<string?> ReadyAsync(string directory, string device, CancellationToken cancellationToken, bool? weightsOnly = null)
    {
        var variant = VariantFor(directory, device);
        var manifestUri = StorageUri.Parse(ManifestFor(variant));
        byte[] bytes;
        try
        {
            bytes = await stores.For(manifestUri).ReadAllAsync(manifestUri, 16L << 20, cancellationToken).ConfigureAwait(false);
        }
        catch (StorageException e) when (e.Kind == StorageErrorKind.NotFound)
        {
            return null;
        }

        var listing = await ListAsync(directory, cancellationToken).ConfigureAwait(false);
        var manifest = JsonNode.Parse(bytes);
        var madeWeightsOnly = manifest?["weightsOnly"]?.GetValueKind() == JsonValueKind.True;
        var expected = Manifest(directory, device, listing, weightsOnly ?? madeWeightsOnly);
        return JsonNode.DeepEquals(manifest, expected) ? variant : null;
    }

    /// <summary>
    /// Writes the variant of <paramref name="directory"/> for <paramref name="device"/> and returns its URI.
    /// On failure whatever was written is removed again and no manifest exists.
    /// </summary>
    public async Task<string> ConvertAsync(string directory, string device, CancellationToken cancellationToken, bool weightsOnly = false)
    {
        var variant = VariantFor(directory, device);
        var listing = await ListAsync(directory, cancellationToken).ConfigureAwait(false);
        var written = new List<StorageUri>();
        try
        {
            var manifestUri = StorageUri.Parse(ManifestFor(variant));
            await stores.For(manifestUri).DeleteAsync(manifestUri, cancellationToken).ConfigureAwait(false);
            foreach (var (relative, source, info) in listing)
            {
                var destination = StorageUri.Parse(variant + relative);
                if (destination.Scheme == StorageScheme.File)
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(destination.Key)!);
                }

                written.Add(destination);
                if (await Probe.IsTorchArchiveAsync(source, cancellationToken).ConfigureAwait(false))
                {
                    await new StoreArtifactConverter(stores).ConvertAsync(source, destination, DeviceMap.Create(device), overwrite: true, options: new RelocationOptions { WeightsOnly = weightsOnly }, cancellationToken: cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await CopyAsync(source, info, destination, cancellationToken).ConfigureAwait(false);
                }
            }

            await using (var writer = await stores.For(manifestUri).CreateWriterAsync(manifestUri, cancellationToken, ObjectWriteOptions.Default).ConfigureAwait(false))
            {
                await writer.WriteAsync(Encoding.UTF8.GetBytes(Manifest(directory, device, listing, weightsOnly).ToJsonString()), cancellationToken).ConfigureAwait(false);
                await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
            }

            return variant;
        }
        catch
        {
            foreach (var uri in written)
            {
                await stores.For(uri).DeleteAsync(uri, CancellationToken.None).ConfigureAwait(false);
            }

            throw;
        }
    }

    private static string Trimmed(string directory) => directory.TrimEnd('/');

    private static JsonObject Manifest(string directory, string device, IEnumerable<(string Relative, StorageUri Uri, ObjectInfo Info)> listing, bool weightsOnly) => new()
    {
        ["source"] = Folder(directory),
        ["device"] = device,
        ["weightsOnly"] = weightsOnly,
        ["members"] = new JsonObject(listing.Select(m => KeyValuePair.Create(m.Relative, (JsonNode?)new JsonObject { ["size"] = m.Info.Size, ["etag"] = m.Info.ETag }))),
    };

    private async Task<List<(string Relative, StorageUri Uri, ObjectInfo Info)>> ListAsync(string directory, CancellationToken cancellationToken)
    {
        directory = Folder(directory);
        var prefix = StorageUri.Parse(directory);
        var members = new List<(string, StorageUri, ObjectInfo)>();
        await foreach (var (uri, info) in stores.For(prefix).ListAsync(prefix, cancellationToken).ConfigureAwait(false))
        {
            var text = uri.ToUriString();
            if (text.EndsWith('/') || !text.StartsWith(directory, StringComparison.Ordinal))
            {
                continue; // folder markers, and what a prefix listing returns beyond the folder
            }

            if (members.Count == MaxMembers)
            {
                throw new StorageException(StorageErrorKind.Other, $"{directory}: more than {MaxMembers:N0} files; not converted");
            }

            members.Add((text[directory.Length..], uri, info));
        }

        return members;
    }

    private async Task CopyAsync(StorageUri source, ObjectInfo info, StorageUri destination, CancellationToken cancellationToken)
    {
        var input = await stores.For(source).OpenReadAsync(source, info, cancellationToken).ConfigureAwait(false);
        try
        {
            await using var writer = await stores.For(destination).CreateWriterAsync(destination, cancellationToken, ObjectWriteOptions.Default).ConfigureAwait(false);
            if (info.Size > 0 && !await writer.TryCopyRangeAsync(input, 0, info.Size, cancellationToken).ConfigureAwait(false))
            {
                var buffer = ArrayPool<byte>.Shared.Rent(CopyBuffer);
                try
                {
                    for (long offset = 0; offset < info.Size; offset += CopyBuffer)
                    {
                        var chunk = buffer.AsMemory(0, (int)Math.Min(CopyBuffer, info.Size - offset));
                        await input.ReadExactlyAsync(offset, chunk, cancellationToken).ConfigureAwait(false);
                        await writer.WriteAsync(chunk, cancellationToken).ConfigureAwait(false);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }

            await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            (input as IDisposable)?.Dispose();
        }
    }
}
