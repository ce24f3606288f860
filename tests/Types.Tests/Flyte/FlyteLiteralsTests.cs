using System.Text.Json.Nodes;
using TorchFerry.Flyte;
using TorchFerry.TestSupport;

namespace TorchFerry.Types.Tests.Flyte;

/// <summary>LiteralMaps written and read by Flyte's own protobuf code (flyteidl 1.16.5).</summary>
public sealed class FlyteLiteralsTests
{
    private static readonly JsonNode Inputs = JsonNode.Parse("""
        {"literals": {
          "checkpoint": {"scalar": {"blob": {"metadata": {"type": {"format": "PyTorchCheckpoint"}}, "uri": "s3://flyte/x/n0/data/0/o0/ck.pt"}}, "hash": "h1", "metadata": {"k": "v"}},
          "lr": {"scalar": {"primitive": {"floatValue": 0.01}}},
          "name": {"scalar": {"primitive": {"stringValue": "run-7"}}},
          "models": {"collection": {"literals": [
            {"scalar": {"blob": {"metadata": {"type": {"format": "PyTorchModule"}}, "uri": "s3://flyte/m0.pt"}}},
            {"scalar": {"blob": {"metadata": {"type": {"format": "PyTorchModule"}}, "uri": "s3://flyte/m1.pt"}}}]}},
          "byName": {"map": {"literals": {
            "weights": {"scalar": {"blob": {"metadata": {"type": {"format": "PyTorchTensor"}}, "uri": "s3://flyte/w.pt"}}},
            "table": {"scalar": {"blob": {"metadata": {"type": {"format": "csv"}}, "uri": "s3://flyte/t.csv"}}}}}},
          "maybe": {"scalar": {"union": {"value": {"scalar": {"blob": {"metadata": {"type": {"format": "PyTorchTensor"}}, "uri": "s3://flyte/u.pt"}}},
                                         "type": {"blob": {"format": "PyTorchTensor"}, "structure": {"tag": "Tensor"}}}}},
          "shards": {"scalar": {"blob": {"metadata": {"type": {"format": "PyTorchCheckpoint", "dimensionality": 1}}, "uri": "s3://flyte/dir/"}}},
          "offloaded": {"offloadedMetadata": {"uri": "s3://flyte/off.pb", "sizeBytes": 123, "inferredType": {"simple": 1}}}
        }}
        """)!;

    [Fact]
    public void FindPyTorchBlobs_InFlytesOwnEncoding_FindsScalarsCollectionsMapsAndUnions()
    {
        var bytes = FlyteIdl.Encode(Inputs);

        var blobs = FlyteLiterals.FindPyTorchBlobs(bytes);

        Assert.Equal(
            [
                new PyTorchBlob("byName.weights", "PyTorchTensor", "s3://flyte/w.pt"),
                new PyTorchBlob("checkpoint", "PyTorchCheckpoint", "s3://flyte/x/n0/data/0/o0/ck.pt"),
                new PyTorchBlob("maybe", "PyTorchTensor", "s3://flyte/u.pt"),
                new PyTorchBlob("models[0]", "PyTorchModule", "s3://flyte/m0.pt"),
                new PyTorchBlob("models[1]", "PyTorchModule", "s3://flyte/m1.pt"),
            ],
            blobs);
    }

    [Fact]
    public void RewritePyTorchBlobs_ChangesOnlyThoseUrisAndFlyteReadsEverythingElseUnchanged()
    {
        var bytes = FlyteIdl.Encode(Inputs);
        var original = FlyteIdl.Decode(bytes);

        var (rewritten, replaced) = FlyteLiterals.RewritePyTorchBlobs(bytes, blob => blob.Path == "models[1]" ? null : blob.Uri + ".cpu");

        Assert.Equal(4, replaced);
        var expected = original.DeepClone();
        expected["literals"]!["checkpoint"]!["scalar"]!["blob"]!["uri"] = "s3://flyte/x/n0/data/0/o0/ck.pt.cpu";
        expected["literals"]!["models"]!["collection"]!["literals"]![0]!["scalar"]!["blob"]!["uri"] = "s3://flyte/m0.pt.cpu";
        expected["literals"]!["byName"]!["map"]!["literals"]!["weights"]!["scalar"]!["blob"]!["uri"] = "s3://flyte/w.pt.cpu";
        expected["literals"]!["maybe"]!["scalar"]!["union"]!["value"]!["scalar"]!["blob"]!["uri"] = "s3://flyte/u.pt.cpu";
        var actual = FlyteIdl.Decode(rewritten);
        Assert.True(JsonNode.DeepEquals(Sorted(expected), Sorted(actual)), actual.ToJsonString());
    }

    [Fact]
    public void FindPyTorchBlobs_ByContent_OffersEveryFileAndDirectoryForItsContentToDecide()
    {
        var blobs = FlyteLiterals.FindPyTorchBlobs(FlyteIdl.Encode(Inputs), byContent: true);

        Assert.Equal(7, blobs.Count);
        var table = Assert.Single(blobs, b => b.Path == "byName.table");
        Assert.Equal(("csv", false, false), (table.Format, table.ByFormat, table.IsDirectory));
        var shards = Assert.Single(blobs, b => b.Path == "shards");
        Assert.Equal(("s3://flyte/dir/", false, true), (shards.Uri, shards.ByFormat, shards.IsDirectory));
        Assert.All(blobs.Where(b => b.Path is not ("byName.table" or "shards")), b => Assert.True(b.ByFormat, b.Path));
    }

    [Fact]
    public void FindOffloaded_InFlytesOwnEncoding_NamesTheFileThatHoldsTheLiteral()
    {
        Assert.Equal([new OffloadedLiteral("offloaded", "s3://flyte/off.pb")], FlyteLiterals.FindOffloaded(FlyteIdl.Encode(Inputs)));
    }

    [Fact]
    public void FindPyTorchBlobs_OffloadedLiteralGiven_FindsItsBlobsUnderItsPath()
    {
        var offloaded = FlyteIdl.EncodeLiteral(OffloadedCollection("s3://flyte/big/0.pt", "s3://flyte/big/1.pt"));

        var blobs = FlyteLiterals.FindPyTorchBlobs(FlyteIdl.Encode(Inputs), new Dictionary<string, byte[]> { ["s3://flyte/off.pb"] = offloaded });

        Assert.Equal(
            [new PyTorchBlob("offloaded[0]", "PyTorchCheckpoint", "s3://flyte/big/0.pt"), new PyTorchBlob("offloaded[1]", "PyTorchCheckpoint", "s3://flyte/big/1.pt")],
            blobs.Where(b => b.Path.StartsWith("offloaded", StringComparison.Ordinal)));
        Assert.Equal(7, blobs.Count);
    }

    [Fact]
    public void RewritePyTorchBlobs_InOffloadedLiteral_WritesItAnewAndPointsTheMapAtItKeepingItsType()
    {
        var bytes = FlyteIdl.Encode(Inputs);
        var offloaded = new Dictionary<string, byte[]> { ["s3://flyte/off.pb"] = FlyteIdl.EncodeLiteral(OffloadedCollection("s3://flyte/big/0.pt", "s3://flyte/big/1.pt")) };

        var rewrite = FlyteLiterals.RewritePyTorchBlobs(bytes, blob => blob.Path == "offloaded[1]" ? blob.Uri + ".cpu" : null, offloaded, literal => $"s3://flyte/prepared/{literal.Path}.pb");

        Assert.Equal(1, rewrite.Replaced);
        var file = Assert.Single(rewrite.Offloaded);
        Assert.Equal("s3://flyte/prepared/offloaded.pb", file.Uri);
        var literal = FlyteIdl.DecodeLiteral(file.Literal)["collection"]!["literals"]!.AsArray();
        Assert.Equal(["s3://flyte/big/0.pt", "s3://flyte/big/1.pt.cpu"], literal.Select(l => l!["scalar"]!["blob"]!["uri"]!.GetValue<string>()));
        var expected = FlyteIdl.Decode(bytes).DeepClone();
        expected["literals"]!["offloaded"]!["offloadedMetadata"]!["uri"] = "s3://flyte/prepared/offloaded.pb";
        expected["literals"]!["offloaded"]!["offloadedMetadata"]!["sizeBytes"] = file.Literal.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(JsonNode.DeepEquals(Sorted(expected), Sorted(FlyteIdl.Decode(rewrite.LiteralMap))), FlyteIdl.Decode(rewrite.LiteralMap).ToJsonString());
    }

    [Fact]
    public void RewritePyTorchBlobs_OffloadedLiteralWithNothingToChange_KeepsPointingAtTheOriginal()
    {
        var bytes = FlyteIdl.Encode(Inputs);
        var offloaded = new Dictionary<string, byte[]> { ["s3://flyte/off.pb"] = FlyteIdl.EncodeLiteral(OffloadedCollection("s3://flyte/big/0.pt")) };

        var rewrite = FlyteLiterals.RewritePyTorchBlobs(bytes, blob => blob.Path == "checkpoint" ? blob.Uri + ".cpu" : null, offloaded, _ => throw new InvalidOperationException("nothing to write"));

        Assert.Empty(rewrite.Offloaded);
        Assert.Equal("s3://flyte/off.pb", FlyteIdl.Decode(rewrite.LiteralMap)["literals"]!["offloaded"]!["offloadedMetadata"]!["uri"]!.GetValue<string>());
    }

    [Fact]
    public void FindPyTorchBlobs_Garbage_IsInvalidData()
    {
        Assert.Throws<InvalidDataException>(() => FlyteLiterals.FindPyTorchBlobs([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    }

    private static JsonObject OffloadedCollection(params string[] uris) => new()
    {
        ["collection"] = new JsonObject { ["literals"] = new JsonArray([.. uris.Select(u => (JsonNode)FlyteIdl.BlobLiteral("PyTorchCheckpoint", u))]) },
    };

    private static JsonNode? Sorted(JsonNode? node) => node switch
    {
        JsonObject map => new JsonObject(map.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, Sorted(kv.Value)))),
        JsonArray list => new JsonArray(list.Select(Sorted).ToArray()),
        _ => node?.DeepClone(),
    };
}
