using System.Text.Json.Nodes;
using TorchFerry.Storage.Conversion;
using TorchFerry.Storage.Tests.S3;
using TorchFerry.TestSupport;

namespace TorchFerry.Storage.Tests.Conversion;

/// <summary>
/// Directories of files (a FlyteDirectory) on s3rver and on local disk: the variant's members, its
/// manifest and when it counts, the probe's order, and what a failure leaves. Torch files are judged
/// by PyTorch, loaded without map_location.
/// </summary>
[Collection(S3Collection.Name)]
public sealed class DirectoryVariantsTests : IDisposable
{
    private const string Bucket = S3Server.Bucket;
    private readonly S3Fixture s3;
    private readonly TorchFixtures torch;
    private readonly TemporaryDirectory folder = new();
    private readonly ObjectStoreRouter stores;
    private readonly DirectoryVariants variants;

    public DirectoryVariantsTests(S3Fixture s3, TorchFixtures torch)
    {
        this.s3 = s3;
        this.torch = torch;
        s3.ResetProxy();
        stores = new ObjectStoreRouter(S3ObjectStoreTests.Options(s3.Server.Endpoint), new ListLogSink().Logger);
        variants = new DirectoryVariants(stores, new TorchContentProbe(stores), VariantLayout.Beside);
    }

    [Fact]
    public async Task Convert_S3Directory_ConvertsTorchMembers_CopiesTheRest_ThenWritesItsManifestBesideIt()
    {
        var directory = $"s3://{Bucket}/{S3Fixture.UniqueKey("shards")}"; // no trailing '/', as flytekit may write it
        var text = RandomBytes((2 << 20) + 512, 1); // copied in 1 MiB pieces: two whole, one part
        await s3.PutFileAsync(Key(directory, "model.pt"), torch.GpuFile("checkpoint_dict"));
        await s3.PutFileAsync(Key(directory, "nested/state.pt"), torch.GpuFile("tensor"));
        await s3.PutBytesAsync(Key(directory, "tokens.bin"), text);
        await s3.PutBytesAsync(Key(directory, "empty.txt"), []);

        Assert.Null(await variants.ReadyAsync(directory, "cpu", default));
        var variant = await variants.ConvertAsync(directory, "cpu", default);

        Assert.Equal(directory + ".torchferry-cpu/", variant);
        Assert.Equal(variant, await variants.ReadyAsync(directory, "cpu", default));
        Assert.Empty(torch.Torch.Compare("checkpoint_dict", await DownloadAsync(variant + "model.pt")).Problems);
        Assert.Empty(torch.Torch.Compare("tensor", await DownloadAsync(variant + "nested/state.pt")).Problems);
        Assert.Equal(text, await s3.GetBytesAsync(Key(variant, "tokens.bin")));
        Assert.Empty(await s3.GetBytesAsync(Key(variant, "empty.txt")));
        Assert.Equal([("model.pt", true), ("nested/state.pt", true)], (await variants.TorchMembersAsync(directory, default)).Select(m => (m.Relative, true)).Order());

        var manifest = JsonNode.Parse(await s3.GetBytesAsync(StorageUri.Parse(directory + ".torchferry-cpu.json").Key))!;
        Assert.Equal((directory + "/", "cpu", false), (manifest["source"]!.GetValue<string>(), manifest["device"]!.GetValue<string>(), manifest["weightsOnly"]!.GetValue<bool>()));
        Assert.Equal(["empty.txt", "model.pt", "nested/state.pt", "tokens.bin"], manifest["members"]!.AsObject().Select(m => m.Key).Order());
        Assert.Equal(text.Length, manifest["members"]!["tokens.bin"]!["size"]!.GetValue<long>());
    }

    [Fact]
    public async Task Ready_CountsOnlyWhileTheManifestMatchesTheSourcesListing_AndHowItWasMade()
    {
        var directory = $"s3://{Bucket}/{S3Fixture.UniqueKey("ready")}/";
        await s3.PutFileAsync(Key(directory, "a.pt"), torch.GpuFile("tensor"));
        await s3.PutBytesAsync(Key(directory, "b.txt"), [1, 2, 3]);
        var variant = await variants.ConvertAsync(directory, "cpu", default);

        Assert.Equal(variant, await variants.ReadyAsync(directory, "cpu", default, weightsOnly: false));
        Assert.Null(await variants.ReadyAsync(directory, "cpu", default, weightsOnly: true)); // made without weights-only conversion
        Assert.Null(await variants.ReadyAsync(directory, "cuda:1", default)); // no variant for that device

        await s3.PutBytesAsync(Key(directory, "b.txt"), [1, 2, 3, 4]); // a member changed
        Assert.Null(await variants.ReadyAsync(directory, "cpu", default));
        await variants.ConvertAsync(directory, "cpu", default);
        await s3.PutBytesAsync(Key(directory, "c.txt"), [5]); // a member added
        Assert.Null(await variants.ReadyAsync(directory, "cpu", default));
    }

    [Fact]
    public async Task Stat_IsTheSumOfTheFiles_AndItsETagFollowsAnyMember_AnEmptyDirectoryIsNotFound()
    {
        var directory = $"s3://{Bucket}/{S3Fixture.UniqueKey("stat")}/";
        await s3.PutBytesAsync(Key(directory, "a.bin"), new byte[10]);
        await s3.PutBytesAsync(Key(directory, "sub/b.bin"), new byte[32]);

        var before = await variants.StatAsync(directory, default);
        await s3.PutBytesAsync(Key(directory, "a.bin"), new byte[10].Select(_ => (byte)1).ToArray()); // same size, other bytes
        var after = await variants.StatAsync(directory, default);

        Assert.Equal((42L, 42L), (before.Size, after.Size));
        Assert.StartsWith("\"dir-", before.ETag, StringComparison.Ordinal);
        Assert.NotEqual(before.ETag, after.ETag);
        var empty = await Assert.ThrowsAsync<StorageException>(() => variants.StatAsync($"s3://{Bucket}/{S3Fixture.UniqueKey("none")}/", default));
        Assert.Equal(StorageErrorKind.NotFound, empty.Kind);
        Assert.EndsWith("/: no files", empty.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HoldsTorchFiles_LooksAtLikelyExtensionsFirst_WithinItsBound()
    {
        // 70 text files sort before the one torch file by name; its extension puts it first.
        var directory = StorageUri.Local(folder.Path).ToUriString() + "/probe/";
        for (var i = 0; i < 70; i++)
        {
            await WriteLocalAsync(directory, $"a{i:D2}.txt", [(byte)i]);
        }

        var plain = StorageUri.Local(folder.Path).ToUriString() + "/plain/";
        for (var i = 0; i < 3; i++)
        {
            await WriteLocalAsync(plain, $"{i}.pt", [(byte)i]); // torch's extension, not torch's content
        }

        File.Copy(torch.GpuFile("tensor"), Path.Combine(folder.Path, "probe", "zz.pt"));
        var late = StorageUri.Local(folder.Path).ToUriString() + "/late/";
        for (var i = 0; i < DirectoryVariants.MaxProbedMembers; i++)
        {
            await WriteLocalAsync(late, $"{i:D2}.pt", [(byte)i]);
        }

        File.Copy(torch.GpuFile("tensor"), Path.Combine(folder.Path, "late", "zz.pt")); // the 65th likely file

        Assert.True(await variants.HoldsTorchFilesAsync(directory, default));
        Assert.False(await variants.HoldsTorchFilesAsync(plain, default));
        Assert.False(await variants.HoldsTorchFilesAsync(late, default));
    }

    [Fact]
    public async Task Convert_MemberThatFails_LeavesNoFileAndNoManifest()
    {
        var directory = $"s3://{Bucket}/{S3Fixture.UniqueKey("broken")}/";
        await s3.PutBytesAsync(Key(directory, "a.txt"), [1]);
        await s3.PutFileAsync(Key(directory, "b.pt"), torch.GpuFile("tensor"));
        await s3.PutBytesAsync(Key(directory, "c.pt"), new ZipBuilder().Add("c/data.pkl", [0x80, 2, (byte)'}']).ToArray()); // a torch archive whose pickle is cut short

        var error = await Assert.ThrowsAsync<TorchFerry.Format.ArtifactFormatException>(() => variants.ConvertAsync(directory, "cpu", default));

        Assert.Equal($"{directory}c.pt: data.pkl is corrupt at byte 3: pickle ends without STOP (truncated?)", error.Message);

        var variant = directory.TrimEnd('/') + ".torchferry-cpu/";
        Assert.Empty(await ListAsync(variant));
        Assert.False(await s3.ExistsAsync(StorageUri.Parse(DirectoryVariants.ManifestFor(variant)).Key));
        Assert.Null(await variants.ReadyAsync(directory, "cpu", default));
    }

    [Fact]
    public async Task Delete_RemovesTheManifestAndEveryFile_AndLocalFolders()
    {
        var directory = StorageUri.Local(folder.Path).ToUriString() + "/local/";
        File.Copy(torch.GpuFile("tensor"), Path.Combine(Directory.CreateDirectory(Path.Combine(folder.Path, "local", "sub")).FullName, "a.pt"));
        await WriteLocalAsync(directory, "b.txt", [1, 2]);
        var variant = await variants.ConvertAsync(directory, "cpu", default);
        Assert.Empty(torch.Torch.Compare("tensor", StorageUri.Parse(variant + "sub/a.pt").Key).Problems);

        await variants.DeleteAsync(variant, default);

        Assert.False(Directory.Exists(StorageUri.Parse(variant).Key));
        Assert.False(File.Exists(StorageUri.Parse(DirectoryVariants.ManifestFor(variant)).Key));
        Assert.True(File.Exists(Path.Combine(folder.Path, "local", "b.txt"))); // the source is untouched
    }

    [Fact]
    public async Task Directory_OfExactlyTheMostMembers_IsListed_OneMoreIsRefused()
    {
        var directory = StorageUri.Local(folder.Path).ToUriString() + "/many/";
        var path = Directory.CreateDirectory(Path.Combine(folder.Path, "many")).FullName;
        for (var i = 0; i < DirectoryVariants.MaxMembers; i++)
        {
            await File.WriteAllBytesAsync(Path.Combine(path, $"{i:D5}"), [1]);
        }

        Assert.Equal(DirectoryVariants.MaxMembers, (await variants.StatAsync(directory, default)).Size);
        await File.WriteAllBytesAsync(Path.Combine(path, "one-more"), [1]);
        var error = await Assert.ThrowsAsync<StorageException>(() => variants.StatAsync(directory, default));
        Assert.Equal($"{directory}: more than 10,000 files; not converted", error.Message);
    }

    public void Dispose()
    {
        stores.Dispose();
        folder.Dispose();
    }

    private static string Key(string directory, string name) => StorageUri.Parse(DirectoryVariants.Folder(directory) + name).Key;

    private static byte[] RandomBytes(int size, int seed)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task WriteLocalAsync(string directory, string name, byte[] data)
    {
        var path = StorageUri.Parse(directory + name).Key;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllBytesAsync(path, data);
    }

    private async Task<string> DownloadAsync(string uri)
    {
        var local = folder.File(Guid.NewGuid().ToString("N"));
        await s3.GetFileAsync(StorageUri.Parse(uri).Key, local);
        return local;
    }

    private async Task<List<string>> ListAsync(string directory)
    {
        var prefix = StorageUri.Parse(directory);
        var found = new List<string>();
        await foreach (var (uri, _) in stores.For(prefix).ListAsync(prefix, default))
        {
            found.Add(uri.Key);
        }

        return found;
    }
}
