using System.IO.Compression;
using CsCheck;
using TorchFerry.Format.Archive;
using TorchFerry.Format.Conversion;
using TorchFerry.Format.Inspection;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Fuzz;

/// <summary>
/// A bounded fuzzing run of the zip and pickle readers in every test run: mutations of real archives
/// (bytes flipped, cut, inserted, repeated) and of their <c>data.pkl</c> (repacked so the pickle
/// parser, not the CRC check, meets them). Every input must be read or refused with an
/// <see cref="ArtifactFormatException"/>; anything else is a bug, and the input that found it
/// belongs in <c>Fuzz/corpus</c>, which every run replays.
/// </summary>
public sealed class ReaderFuzzTests
{
    private static readonly string Corpus = Path.Combine(RepositoryPaths.Root, "tests", "Format.Tests", "Fuzz", "corpus");
    private static readonly byte[] Sample = File.ReadAllBytes(Path.Combine(RepositoryPaths.Root, "samples", "checkpoint-cuda.pt"));

    [Fact]
    public async Task Corpus_EveryKeptInput_IsReadOrRefusedCleanly()
    {
        var inputs = Directory.GetFiles(Corpus, "*.pt");
        Assert.NotEmpty(inputs);
        foreach (var input in inputs)
        {
            using var file = FileSource.Open(input);
            await AssertReadOrRefusedAsync(file, await File.ReadAllBytesAsync(input));
        }
    }

    [Fact]
    public void ArchiveBytes_Mutated_AreReadOrRefusedCleanly()
    {
        Mutations(Sample).Sample(bytes => AssertReadOrRefusedAsync(new MemorySource(bytes, "mutated archive"), bytes).GetAwaiter().GetResult(), iter: 5000, time: 8, threads: 1);
    }

    [Fact]
    public void PickleBytes_Mutated_AreReadOrRefusedCleanly()
    {
        var (pickle, records) = Unpack(Sample);
        Mutations(pickle).Select(mutated => Repack(mutated, records))
            .Sample(bytes => AssertReadOrRefusedAsync(new MemorySource(bytes, "mutated data.pkl"), bytes).GetAwaiter().GetResult(), iter: 5000, time: 8, threads: 1);
    }

    // Flips, cuts, insertions and repeats of ranges, a few at a time: how files get damaged and crafted.
    private static Gen<byte[]> Mutations(byte[] seed) =>
        Gen.Int[1, 4].SelectMany(count => Gen.Select(Gen.Int[0, 3], Gen.Int[0, seed.Length - 1], Gen.Int[1, 64], Gen.Byte).Array[count])
            .Select(edits =>
            {
                var bytes = seed.ToList();
                foreach (var (kind, at, length, value) in edits)
                {
                    var start = Math.Min(at, bytes.Count - 1);
                    var span = Math.Min(length, bytes.Count - start);
                    switch (kind)
                    {
                        case 0:
                            for (var i = start; i < start + span; i++)
                            {
                                bytes[i] ^= value == 0 ? (byte)0xFF : value;
                            }

                            break;
                        case 1:
                            bytes.RemoveRange(start, bytes.Count - start > 1 ? span : 0);
                            break;
                        case 2:
                            bytes.InsertRange(start, Enumerable.Repeat(value, length));
                            break;
                        default:
                            bytes.InsertRange(start, bytes.GetRange(start, span));
                            break;
                    }

                    if (bytes.Count == 0)
                    {
                        bytes.Add(value);
                    }
                }

                return bytes.ToArray();
            });

    private static async Task AssertReadOrRefusedAsync(IRandomAccessSource source, byte[] bytes)
    {
        try
        {
            var archive = await TorchArchive.OpenAsync(source);
            ArtifactInspector.Describe(archive);
            using var output = new MemoryStream();
            await ArchiveRelocator.RelocateAsync(archive, DeviceMap.Create("cpu"), output);
        }
        catch (ArtifactFormatException)
        {
            // Refused with one line: what should happen to most of these.
        }
        catch (Exception e)
        {
            var kept = Path.Combine(Path.GetTempPath(), $"torchferry-fuzz-{Guid.NewGuid():N}.pt");
            await File.WriteAllBytesAsync(kept, bytes);
            Assert.Fail($"{source.Name}: {e.GetType().Name}: {e.Message} (input kept at {kept}; add it to tests/Format.Tests/Fuzz/corpus)");
        }
    }

    private static (byte[] Pickle, List<(string Name, byte[] Data)> Records) Unpack(byte[] archive)
    {
        using var zip = new ZipArchive(new MemoryStream(archive), ZipArchiveMode.Read);
        byte[] pickle = [];
        var records = new List<(string, byte[])>();
        foreach (var entry in zip.Entries)
        {
            using var content = entry.Open();
            using var buffer = new MemoryStream();
            content.CopyTo(buffer);
            if (entry.FullName.EndsWith("/data.pkl", StringComparison.Ordinal))
            {
                pickle = buffer.ToArray();
            }
            else
            {
                records.Add((entry.FullName, buffer.ToArray()));
            }
        }

        return (pickle, records);
    }

    private static byte[] Repack(byte[] pickle, List<(string Name, byte[] Data)> records)
    {
        var zip = new ZipBuilder().Add("checkpoint-cuda/data.pkl", pickle);
        foreach (var (name, data) in records)
        {
            zip.Add(name, data);
        }

        return zip.ToArray();
    }
}
