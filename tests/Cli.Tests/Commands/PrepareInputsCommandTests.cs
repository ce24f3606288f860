using System.Text.Json.Nodes;
using Serilog;
using TorchFerry.Cli.Commands;
using TorchFerry.Format.Conversion;
using TorchFerry.Storage;
using TorchFerry.Storage.Conversion;
using TorchFerry.Storage.S3;
using TorchFerry.TestSupport;

namespace TorchFerry.Cli.Tests.Commands;

/// <summary>The prepare-inputs init container against the S3 test server, with LiteralMaps made by Flyte's own code.</summary>
[Collection(S3Collection.Name)]
public sealed class PrepareInputsCommandTests(S3Fixture s3, TorchFixtures fixtures) : IDisposable
{
    private const string Bucket = S3Server.Bucket;

    private readonly TemporaryDirectory folder = new();

    [Fact]
    public async Task PrepareInputs_ReadyVariant_PointsTheBlobAtItAndPyTorchLoadsItOnCpu()
    {
        var (source, inputs, target) = await SetUpAsync("checkpoint_dict");
        using (var stores = Stores())
        {
            // What the operator does when the pod was annotated.
            await new StoreArtifactConverter(stores).ConvertAsync(source, VariantLayout.Beside.For(source, "cpu"), DeviceMap.Create("cpu"));
        }

        var (exitCode, error) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", "cpu", "--timeout", "5", "--poll", "0.1");

        Assert.Equal(0, exitCode);
        Assert.Contains("1 of 1 PyTorch inputs point at cpu variants", error, StringComparison.Ordinal);
        var prepared = FlyteIdl.Decode(await GetAsync(target));
        var uri = prepared["literals"]!["model"]!["scalar"]!["blob"]!["uri"]!.GetValue<string>();
        Assert.Equal(VariantLayout.Beside.For(source, "cpu").ToUriString(), uri);
        var local = folder.File("variant.pt");
        await s3.GetFileAsync(StorageUri.Parse(uri).Key, local);
        Assert.Empty(fixtures.Torch.Compare("checkpoint_dict", local).Problems);
    }

    [Fact]
    public async Task PrepareInputs_VariantPrefix_FindsTheOperatorsVariantUnderIt_AndPyTorchLoadsItOnCpu()
    {
        var (source, inputs, target) = await SetUpAsync("checkpoint_dict");
        var layout = VariantLayout.Under("torchferry-variants/");
        using (var stores = Stores())
        {
            // What the operator run with --variant-prefix torchferry-variants/ does.
            await new StoreArtifactConverter(stores).ConvertAsync(source, layout.For(source, "cpu"), DeviceMap.Create("cpu"));
        }

        var (exitCode, error) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", "cpu", "--timeout", "5", "--poll", "0.1", "--operator-wait", "5", "--variant-prefix", "torchferry-variants/");

        Assert.Equal(0, exitCode);
        Assert.Contains("1 of 1 PyTorch inputs point at cpu variants", error, StringComparison.Ordinal);
        Assert.DoesNotContain("converted here", error, StringComparison.Ordinal);
        var uri = FlyteIdl.Decode(await GetAsync(target))["literals"]!["model"]!["scalar"]!["blob"]!["uri"]!.GetValue<string>();
        Assert.Equal($"s3://{Bucket}/torchferry-variants/{source.Key[..^".pt".Length]}.torchferry-cpu.pt", uri);
        Assert.False(await s3.ExistsAsync(VariantLayout.Beside.For(source, "cpu").Key));
        var local = folder.File("variant.pt");
        await s3.GetFileAsync(StorageUri.Parse(uri).Key, local);
        Assert.Empty(fixtures.Torch.Compare("checkpoint_dict", local).Problems);
    }

    [Fact]
    public async Task PrepareInputs_MalformedVariantPrefix_SaysSo_AndLooksBesideTheSources()
    {
        var (source, inputs, target) = await SetUpAsync("checkpoint_dict");
        using (var stores = Stores())
        {
            await new StoreArtifactConverter(stores).ConvertAsync(source, VariantLayout.Beside.For(source, "cpu"), DeviceMap.Create("cpu"));
        }

        var (exitCode, error) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", "cpu", "--timeout", "5", "--poll", "0.1", "--variant-prefix", "../elsewhere");

        Assert.Equal(0, exitCode);
        Assert.Contains("--variant-prefix: variant prefix '../elsewhere' must be", error, StringComparison.Ordinal);
        Assert.Equal(VariantLayout.Beside.For(source, "cpu").ToUriString(), FlyteIdl.Decode(await GetAsync(target))["literals"]!["model"]!["scalar"]!["blob"]!["uri"]!.GetValue<string>());
    }

    [Fact]
    public async Task PrepareInputs_NoVariantInTime_PassesTheInputsOnUnchangedAndSaysWhy()
    {
        var (_, inputs, target) = await SetUpAsync("tensor");

        var (exitCode, error) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", "cpu", "--timeout", "0.5", "--poll", "0.1");

        Assert.Equal(0, exitCode);
        Assert.Contains("no ready cpu variant", error, StringComparison.Ordinal);
        Assert.Equal(await GetAsync(inputs), await GetAsync(target));
    }

    [Fact]
    public async Task PrepareInputs_OperatorSilent_ConvertsHereIntoTheVariantLocation_AndPyTorchLoadsItOnCpu()
    {
        var (source, inputs, target) = await SetUpAsync("checkpoint_dict");

        var (exitCode, error) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", "cpu", "--timeout", "60", "--poll", "0.1", "--operator-wait", "0.2");

        Assert.Equal(0, exitCode);
        Assert.Contains("1 of 1 PyTorch inputs point at cpu variants (1 converted here)", error, StringComparison.Ordinal);
        var uri = FlyteIdl.Decode(await GetAsync(target))["literals"]!["model"]!["scalar"]!["blob"]!["uri"]!.GetValue<string>();
        Assert.Equal(VariantLayout.Beside.For(source, "cpu").ToUriString(), uri);
        var local = folder.File("variant.pt");
        await s3.GetFileAsync(StorageUri.Parse(uri).Key, local);
        Assert.Empty(fixtures.Torch.Compare("checkpoint_dict", local).Problems);
    }

    [Fact]
    public async Task PrepareInputs_MapSubtask_PreparesOnlyItsOwnItemOfFifty()
    {
        // Every subtask gets the whole map; subtask 7 reads item 7 of the collection (and the plain input whole).
        var prefix = S3Fixture.UniqueKey(string.Empty);
        var items = new JsonArray();
        for (var i = 0; i < 50; i++)
        {
            var key = $"{prefix}n0/{i}/model.pt";
            await s3.PutFileAsync(key, fixtures.GpuFile("tensor"));
            items.Add(FlyteIdl.BlobLiteral("PyTorchTensor", $"s3://{S3Server.Bucket}/{key}"));
        }

        var shared = StorageUri.S3(S3Server.Bucket, prefix + "shared.pt");
        await s3.PutFileAsync(shared.Key, fixtures.GpuFile("checkpoint_dict"));
        var local = folder.File("map.pb");
        await File.WriteAllBytesAsync(local, FlyteIdl.Encode(new JsonObject
        {
            ["literals"] = new JsonObject { ["models"] = new JsonObject { ["collection"] = new JsonObject { ["literals"] = items } }, ["base"] = FlyteIdl.BlobLiteral("PyTorchCheckpoint", shared.ToUriString()) },
        }));
        var inputs = StorageUri.S3(S3Server.Bucket, prefix + "n1/inputs.pb");
        await s3.PutFileAsync(inputs.Key, local);
        var target = StorageUri.S3(S3Server.Bucket, prefix + "n1/data/0/torchferry-inputs-7.pb");

        var (exitCode, error) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", "cpu", "--timeout", "60", "--poll", "0.1", "--operator-wait", "0", "--array-index", "7");

        Assert.Equal(0, exitCode);
        Assert.Contains("2 of 2 PyTorch inputs point at cpu variants (2 converted here)", error, StringComparison.Ordinal);
        var prepared = FlyteIdl.Decode(await GetAsync(target))["literals"]!;
        var uris = prepared["models"]!["collection"]!["literals"]!.AsArray().Select(l => l!["scalar"]!["blob"]!["uri"]!.GetValue<string>()).ToList();
        Assert.Equal(VariantLayout.Beside.For(StorageUri.Parse(uris[7].Replace(".torchferry-cpu", string.Empty, StringComparison.Ordinal)), "cpu").ToUriString(), uris[7]);
        Assert.All(uris.Where((_, i) => i != 7), u => Assert.EndsWith("/model.pt", u, StringComparison.Ordinal));
        Assert.Equal(VariantLayout.Beside.For(shared, "cpu").ToUriString(), prepared["base"]!["scalar"]!["blob"]!["uri"]!.GetValue<string>());
        Assert.False(await s3.ExistsAsync(VariantLayout.Beside.For(StorageUri.Parse(uris[6]), "cpu").Key));
    }

    [Fact]
    public async Task PrepareInputs_OffloadedLiteral_WritesItAnewBesideTheTargetPointingAtTheVariant_AndPyTorchLoadsItOnCpu()
    {
        // flytekit with _F_L_MIN_SIZE_MB: the input 'models' lives in its own file, a serialized Literal.
        var prefix = S3Fixture.UniqueKey(string.Empty);
        var source = StorageUri.S3(S3Server.Bucket, prefix + "n0/o0/model.pt");
        await s3.PutFileAsync(source.Key, fixtures.GpuFile("checkpoint_dict"));
        var offloaded = StorageUri.S3(S3Server.Bucket, prefix + "n0/models_offloaded_metadata.pb");
        var literal = new JsonObject { ["collection"] = new JsonObject { ["literals"] = new JsonArray(FlyteIdl.BlobLiteral("PyTorchCheckpoint", source.ToUriString())) } };
        await PutAsync(offloaded, FlyteIdl.EncodeLiteral(literal));
        var inputs = StorageUri.S3(S3Server.Bucket, prefix + "n1/inputs.pb");
        await PutAsync(inputs, FlyteIdl.Encode(new JsonObject
        {
            ["literals"] = new JsonObject
            {
                ["models"] = new JsonObject { ["offloadedMetadata"] = new JsonObject { ["uri"] = offloaded.ToUriString(), ["sizeBytes"] = 99, ["inferredType"] = new JsonObject { ["collectionType"] = new JsonObject { ["blob"] = new JsonObject { ["format"] = "PyTorchCheckpoint" } } } } },
            },
        }));
        var target = StorageUri.S3(S3Server.Bucket, prefix + "n1/data/0/torchferry-inputs.pb");

        var (exitCode, error) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", "cpu", "--timeout", "60", "--poll", "0.1", "--operator-wait", "0");

        Assert.Equal(0, exitCode);
        Assert.Contains("1 of 1 PyTorch inputs point at cpu variants (1 converted here), 1 of them through offloaded literals written anew", error, StringComparison.Ordinal);
        var metadata = FlyteIdl.Decode(await GetAsync(target))["literals"]!["models"]!["offloadedMetadata"]!;
        Assert.Equal(target.ToUriString() + ".offloaded-0.pb", metadata["uri"]!.GetValue<string>());
        Assert.Equal("PyTorchCheckpoint", metadata["inferredType"]!["collectionType"]!["blob"]!["format"]!.GetValue<string>());
        var prepared = await GetAsync(StorageUri.Parse(metadata["uri"]!.GetValue<string>()));
        Assert.Equal(prepared.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), metadata["sizeBytes"]!.GetValue<string>());
        var uri = FlyteIdl.DecodeLiteral(prepared)["collection"]!["literals"]![0]!["scalar"]!["blob"]!["uri"]!.GetValue<string>();
        Assert.Equal(VariantLayout.Beside.For(source, "cpu").ToUriString(), uri);
        var local = folder.File("variant.pt");
        await s3.GetFileAsync(StorageUri.Parse(uri).Key, local);
        Assert.Empty(fixtures.Torch.Compare("checkpoint_dict", local).Problems);
        Assert.Equal(FlyteIdl.EncodeLiteral(literal), await GetAsync(offloaded));
    }

    [Fact]
    public async Task PrepareInputs_FlyteFilesHoldingCheckpoints_PointAtVariantsTorchLoadsOnCpu_ACsvStaysAsItIs()
    {
        // FlyteFile outputs as flytekit writes them: the format string is the user's ("" or an extension).
        var prefix = S3Fixture.UniqueKey(string.Empty);
        var checkpoint = StorageUri.S3(Bucket, prefix + "n0/abc/model.pt");
        var bare = StorageUri.S3(Bucket, prefix + "n0/def/weights");
        var csv = StorageUri.S3(Bucket, prefix + "n0/ghi/metrics.csv");
        await s3.PutFileAsync(checkpoint.Key, fixtures.GpuFile("checkpoint_dict"));
        await s3.PutFileAsync(bare.Key, fixtures.GpuFile("tensor"));
        await PutAsync(csv, "epoch,loss\n1,0.5\n"u8.ToArray());
        var inputs = StorageUri.S3(Bucket, prefix + "n1/inputs.pb");
        await PutAsync(inputs, FlyteIdl.Encode(new JsonObject
        {
            ["literals"] = new JsonObject
            {
                ["model"] = FlyteIdl.BlobLiteral("pt", checkpoint.ToUriString()),
                ["weights"] = FlyteIdl.BlobLiteral(string.Empty, bare.ToUriString()),
                ["metrics"] = FlyteIdl.BlobLiteral("csv", csv.ToUriString()),
                ["more"] = new JsonObject { ["collection"] = new JsonObject { ["literals"] = new JsonArray(FlyteIdl.BlobLiteral("pth", checkpoint.ToUriString()), FlyteIdl.BlobLiteral("csv", csv.ToUriString())) } },
            },
        }));
        var target = StorageUri.S3(Bucket, prefix + "n1/data/0/torchferry-inputs.pb");

        var (exitCode, error) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", "cpu", "--timeout", "60", "--poll", "0.1", "--operator-wait", "0");

        Assert.Equal(0, exitCode);
        Assert.Contains("3 of 3 PyTorch inputs point at cpu variants (2 converted here); 3 of the inputs are files found to be torch.save archives", error, StringComparison.Ordinal);
        var prepared = FlyteIdl.Decode(await GetAsync(target))["literals"]!;
        var collection = prepared["more"]!["collection"]!["literals"]!.AsArray().Select(l => l!["scalar"]!["blob"]!["uri"]!.GetValue<string>());
        Assert.Equal([VariantLayout.Beside.For(checkpoint, "cpu").ToUriString(), csv.ToUriString()], collection);
        string Uri(string name) => prepared[name]!["scalar"]!["blob"]!["uri"]!.GetValue<string>();
        Assert.Equal(csv.ToUriString(), Uri("metrics"));
        Assert.Equal("pt", prepared["model"]!["scalar"]!["blob"]!["metadata"]!["type"]!["format"]!.GetValue<string>());
        foreach (var (name, source, fixtureCase) in new[] { ("model", checkpoint, "checkpoint_dict"), ("weights", bare, "tensor") })
        {
            Assert.Equal(VariantLayout.Beside.For(source, "cpu").ToUriString(), Uri(name));
            var local = folder.File(name + ".pt");
            await s3.GetFileAsync(StorageUri.Parse(Uri(name)).Key, local);
            Assert.Null(fixtures.Torch.LoadError(local));
            Assert.Empty(fixtures.Torch.Compare(fixtureCase, local).Problems);
        }
    }

    [Fact]
    public async Task PrepareInputs_FlyteDirectoryOfShardsAndAReadme_GetsAVariantDirectoryTorchLoadsOnCpu_MadeOnce()
    {
        // A FlyteDirectory (MULTIPART blob) of three checkpoint shards saved on cuda:0, one in a subfolder, and a README.
        var prefix = S3Fixture.UniqueKey(string.Empty);
        var directory = $"s3://{Bucket}/{prefix}n0/abc/shards/";
        var shards = new[] { ("shard-0.pt", "checkpoint_dict"), ("shard-1.bin", "tensor"), ("more/shard-2.pt", "tied_weights") };
        foreach (var (name, fixtureCase) in shards)
        {
            await s3.PutFileAsync($"{prefix}n0/abc/shards/{name}", fixtures.GpuFile(fixtureCase));
        }

        var readme = "# shards\nLoad with torch.load.\n"u8.ToArray();
        await PutAsync(StorageUri.Parse(directory + "README.md"), readme);
        var (inputs, target) = await DirectoryInputsAsync(prefix, directory.TrimEnd('/')); // flytekit may leave the '/' off

        var (exitCode, error) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", "cpu", "--timeout", "60", "--poll", "0.1", "--operator-wait", "0");

        Assert.Equal(0, exitCode);
        Assert.Contains("1 of 1 PyTorch inputs point at cpu variants (1 converted here)", error, StringComparison.Ordinal);
        var variant = FlyteIdl.Decode(await GetAsync(target))["literals"]!["shards"]!["scalar"]!["blob"]!["uri"]!.GetValue<string>();
        Assert.Equal($"s3://{Bucket}/{prefix}n0/abc/shards.torchferry-cpu/", variant);
        foreach (var (name, fixtureCase) in shards)
        {
            var local = folder.File(Path.GetFileName(name));
            await s3.GetFileAsync(StorageUri.Parse(variant + name).Key, local);
            Assert.Null(fixtures.Torch.LoadError(local));
            Assert.Empty(fixtures.Torch.Compare(fixtureCase, local).Problems);
        }

        Assert.Equal(readme, await GetAsync(StorageUri.Parse(variant + "README.md")));
        Assert.True(await s3.ExistsAsync($"{prefix}n0/abc/shards.torchferry-cpu.json"), "the manifest lies beside the variant directory, outside it");

        // A second consumer finds the variant ready: nothing is converted again.
        var (again, secondError) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString() + ".2", "--device", "cpu", "--timeout", "60", "--poll", "0.1", "--operator-wait", "0");
        Assert.Equal(0, again);
        Assert.Contains("torchferry: prepare-inputs: 1 of 1 PyTorch inputs point at cpu variants; 1 is a directory holding torch.save files\n", secondError, StringComparison.Ordinal);
        Assert.Equal(variant, FlyteIdl.Decode(await GetAsync(StorageUri.Parse(target.ToUriString() + ".2")))["literals"]!["shards"]!["scalar"]!["blob"]!["uri"]!.GetValue<string>());
    }

    [Fact]
    public async Task PrepareInputs_FlyteDirectoryWithAHostileShard_IsPassedOnUnchanged_AndNothingIsLeftBehind()
    {
        var prefix = S3Fixture.UniqueKey(string.Empty);
        var directory = $"s3://{Bucket}/{prefix}n0/abc/shards/";
        await s3.PutFileAsync($"{prefix}n0/abc/shards/a-good.pt", fixtures.GpuFile("tensor"));
        await s3.PutFileAsync($"{prefix}n0/abc/shards/b-evil.pt", fixtures.GpuFile("evil"));
        var (inputs, target) = await DirectoryInputsAsync(prefix, directory);

        var (exitCode, error) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", "cpu", "--timeout", "60", "--poll", "0.1", "--operator-wait", "0");

        Assert.Equal(0, exitCode);
        Assert.Contains($"{directory}: ", error, StringComparison.Ordinal);
        Assert.Contains("loading it would run code", error, StringComparison.Ordinal);
        Assert.Equal(await GetAsync(inputs), await GetAsync(target));
        Assert.False(await s3.ExistsAsync($"{prefix}n0/abc/shards.torchferry-cpu/a-good.pt"), "the converted shard is removed again");
        Assert.False(await s3.ExistsAsync($"{prefix}n0/abc/shards.torchferry-cpu.json"));
    }

    [Fact]
    public async Task PrepareInputs_ManyFilesOnASlowStore_AreProbedWithinTheBudget_TheRestPassedOnUnchanged()
    {
        // 64 CSV FlyteFiles, every request to the store 200 ms: probing them all, 16 at a time, takes
        // at least 1.6 s; the budget is 1 s. The task must get its inputs within about the budget.
        s3.ResetProxy();
        s3.Proxy.BeforeForward = _ => Task.Delay(200);
        var prefix = S3Fixture.UniqueKey(string.Empty);
        var files = new JsonArray();
        var local = folder.File("table.csv");
        await File.WriteAllTextAsync(local, "epoch,loss\n1,0.5\n");
        for (var i = 0; i < 64; i++)
        {
            await s3.PutFileAsync($"{prefix}n0/{i}/table.csv", local);
            files.Add(FlyteIdl.BlobLiteral("csv", $"s3://{Bucket}/{prefix}n0/{i}/table.csv"));
        }

        var inputs = StorageUri.S3(Bucket, prefix + "n1/inputs.pb");
        await PutAsync(inputs, FlyteIdl.Encode(new JsonObject { ["literals"] = new JsonObject { ["tables"] = new JsonObject { ["collection"] = new JsonObject { ["literals"] = files } } } }));
        var target = StorageUri.S3(Bucket, prefix + "n1/data/0/torchferry-inputs.pb");
        var watch = System.Diagnostics.Stopwatch.StartNew();

        var (exitCode, error) = await RunAsync(s3.Proxy.Endpoint, "--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", "cpu", "--timeout", "1", "--poll", "0.1", "--operator-wait", "0");

        watch.Stop();
        s3.ResetProxy();
        Assert.Equal(0, exitCode);
        Assert.Matches(@"prepare-inputs: \d+ of 64 files and directories of other formats not looked at \(at most 1000 within 1 s\); passing them on unchanged", error);
        Assert.Equal(await GetAsync(inputs), await GetAsync(target));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1 + 64 * 0.2), $"prepare-inputs took {watch.Elapsed}: it waited for every probe instead of its budget");
    }

    [Fact]
    public async Task PrepareInputs_OffloadedLiteralMissing_PreparesTheOtherInputsAndSaysWhy()
    {
        var gone = $"s3://{S3Server.Bucket}/{S3Fixture.UniqueKey("gone.pb")}";
        var (source, inputs, target) = await SetUpAsync("tensor", more: new JsonObject { ["offloadedMetadata"] = new JsonObject { ["uri"] = gone, ["sizeBytes"] = 10 } });

        var (exitCode, error) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", "cpu", "--timeout", "60", "--poll", "0.1", "--operator-wait", "0");

        Assert.Equal(0, exitCode);
        Assert.Contains("offloaded literal more: ", error, StringComparison.Ordinal);
        Assert.Contains("passing its PyTorch inputs on unchanged", error, StringComparison.Ordinal);
        Assert.Contains("1 of 1 PyTorch inputs point at cpu variants", error, StringComparison.Ordinal);
        var prepared = FlyteIdl.Decode(await GetAsync(target))["literals"]!;
        Assert.Equal(VariantLayout.Beside.For(source, "cpu").ToUriString(), prepared["model"]!["scalar"]!["blob"]!["uri"]!.GetValue<string>());
        Assert.Equal(gone, prepared["more"]!["offloadedMetadata"]!["uri"]!.GetValue<string>());
    }

    [Fact]
    public async Task PrepareInputs_StaleVariantAndOperatorSilent_ReplacesItWithTheSourcesOwn()
    {
        var (source, inputs, target) = await SetUpAsync("checkpoint_dict");
        var other = StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("other.pt"));
        await s3.PutFileAsync(other.Key, fixtures.GpuFile("module"));
        using (var stores = Stores())
        {
            await new StoreArtifactConverter(stores).ConvertAsync(other, VariantLayout.Beside.For(source, "cpu"), DeviceMap.Create("cpu"));
        }

        var (exitCode, error) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", "cpu", "--timeout", "60", "--poll", "0.1", "--operator-wait", "0");

        Assert.Equal(0, exitCode);
        Assert.Contains("(1 converted here)", error, StringComparison.Ordinal);
        var local = folder.File("variant.pt");
        await s3.GetFileAsync(VariantLayout.Beside.For(source, "cpu").Key, local);
        Assert.Empty(fixtures.Torch.Compare("checkpoint_dict", local).Problems);
    }

    [Fact]
    public async Task PrepareInputs_StaleVariantOfAnotherSource_IsNotUsed()
    {
        var (source, inputs, target) = await SetUpAsync("checkpoint_dict");
        var other = StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("other.pt"));
        await s3.PutFileAsync(other.Key, fixtures.GpuFile("module"));
        using (var stores = Stores())
        {
            await new StoreArtifactConverter(stores).ConvertAsync(other, VariantLayout.Beside.For(source, "cpu"), DeviceMap.Create("cpu"));
        }

        var (exitCode, _) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", "cpu", "--timeout", "0.3", "--poll", "0.1");

        Assert.Equal(0, exitCode);
        Assert.Equal(await GetAsync(inputs), await GetAsync(target));
    }

    [Fact]
    public async Task PrepareInputs_UnreadableBlob_PassesTheInputsOnUnchanged()
    {
        var (_, inputs, target) = await SetUpAsync("tensor", blobUri: $"s3://{S3Server.Bucket}/does/not/exist.pt");

        var (exitCode, error) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", "cpu", "--timeout", "1");

        Assert.Equal(0, exitCode);
        Assert.Contains("passing the inputs on unchanged", error, StringComparison.Ordinal);
        Assert.Equal(await GetAsync(inputs), await GetAsync(target));
    }

    [Theory]
    [InlineData("torch+os.system")]
    [InlineData("aliased-records")]
    [InlineData("zip64-size-max")]
    [InlineData("corrupt-deflate-pickle")]
    public async Task PrepareInputs_HostileBlob_PassesTheInputsOnUnchanged(string hostile)
    {
        var blob = StorageUri.S3(S3Server.Bucket, S3Fixture.UniqueKey("hostile.pt"));
        var file = folder.File("hostile.pt");
        await File.WriteAllBytesAsync(file, HostileArchives.All(folder.File("marker")).Single(c => c.Name == hostile).Archive);
        await s3.PutFileAsync(blob.Key, file);
        var (_, inputs, target) = await SetUpAsync("tensor", blobUri: blob.ToUriString());

        var (exitCode, error) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", "cpu", "--timeout", "1", "--operator-wait", "0");

        Assert.Equal(0, exitCode);
        Assert.Contains("passing the inputs on unchanged", error, StringComparison.Ordinal);
        Assert.Equal(await GetAsync(inputs), await GetAsync(target));
        Assert.False(File.Exists(folder.File("marker")));
        Assert.False(await s3.ExistsAsync(VariantLayout.Beside.For(blob, "cpu").Key));
    }

    [Theory]
    [MemberData(nameof(DeviceNames.Refused), MemberType = typeof(DeviceNames))]
    public async Task PrepareInputs_NotADevice_IsAUsageErrorAndWritesNoTarget(string device)
    {
        // The webhook never builds such an init container (its own edge refuses the value first).
        var (_, inputs, target) = await SetUpAsync("tensor");

        var (exitCode, error) = await RunAsync("--source", inputs.ToUriString(), "--target", target.ToUriString(), "--device", device, "--timeout", "0");

        Assert.Equal(2, exitCode);
        Assert.Equal($"torchferry: --device '{device}': not a device (expected cpu, cuda or cuda:N with N from 0 to 99)\n", error);
        Assert.False(await s3.ExistsAsync(target.Key));
    }

    public void Dispose() => folder.Dispose();

    private async Task<(StorageUri Source, StorageUri Inputs, StorageUri Target)> SetUpAsync(string fixtureCase, string? blobUri = null, JsonObject? more = null)
    {
        var prefix = S3Fixture.UniqueKey(string.Empty);
        var source = StorageUri.S3(S3Server.Bucket, prefix + "n0/o0/model.pt");
        await s3.PutFileAsync(source.Key, fixtures.GpuFile(fixtureCase));
        var literalMap = new JsonObject
        {
            ["literals"] = new JsonObject
            {
                ["model"] = FlyteIdl.BlobLiteral("PyTorchCheckpoint", blobUri ?? source.ToUriString()),
                ["epochs"] = new JsonObject { ["scalar"] = new JsonObject { ["primitive"] = new JsonObject { ["integer"] = 3 } } },
            },
        };
        if (more is not null)
        {
            literalMap["literals"]!["more"] = more;
        }

        var local = folder.File(Guid.NewGuid().ToString("N") + ".pb");
        await File.WriteAllBytesAsync(local, FlyteIdl.Encode(literalMap));
        var inputs = StorageUri.S3(S3Server.Bucket, prefix + "n1/inputs.pb");
        await s3.PutFileAsync(inputs.Key, local);
        return (source, inputs, StorageUri.S3(S3Server.Bucket, prefix + "n1/data/0/torchferry-inputs.pb"));
    }

    // A consumer's inputs holding one FlyteDirectory, 'shards', and where its prepared copy goes.
    private async Task<(StorageUri Inputs, StorageUri Target)> DirectoryInputsAsync(string prefix, string directory)
    {
        var inputs = StorageUri.S3(Bucket, prefix + "n1/inputs.pb");
        await PutAsync(inputs, FlyteIdl.Encode(new JsonObject { ["literals"] = new JsonObject { ["shards"] = FlyteIdl.DirectoryLiteral(string.Empty, directory) } }));
        return (inputs, StorageUri.S3(Bucket, prefix + "n1/data/0/torchferry-inputs.pb"));
    }

    private async Task PutAsync(StorageUri uri, byte[] bytes)
    {
        var local = folder.File(Guid.NewGuid().ToString("N") + ".pb");
        await File.WriteAllBytesAsync(local, bytes);
        await s3.PutFileAsync(uri.Key, local);
    }

    private async Task<byte[]> GetAsync(StorageUri uri)
    {
        var local = folder.File(Guid.NewGuid().ToString("N"));
        await s3.GetFileAsync(uri.Key, local);
        return await File.ReadAllBytesAsync(local);
    }

    private ObjectStoreRouter Stores(Uri? endpoint = null) => new(
        new S3StoreOptions { Endpoint = endpoint ?? s3.Server.Endpoint, Credentials = (S3Server.AccessKey, S3Server.SecretKey), PartSize = S3StoreOptions.MinimumPartSize },
        new LoggerConfiguration().CreateLogger());

    private Task<(int ExitCode, string Error)> RunAsync(params string[] args) => RunAsync(s3.Server.Endpoint, args);

    private async Task<(int ExitCode, string Error)> RunAsync(Uri endpoint, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var context = new CommandContext(output, error, _ => Stores(endpoint));
        var exitCode = await TorchFerryCommand.RunAsync(["prepare-inputs", .. args], context);
        return (exitCode, error.ToString());
    }
}
