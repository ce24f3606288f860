using System.Text;
using TorchFerry.Format.Archive;
using TorchFerry.Format.Tests.Fuzz;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Archive;

/// <summary>
/// Every way opening an archive is refused, each with its kind and its whole line; and the bounds
/// that refuse at their exact edge.
/// </summary>
public sealed class TorchArchiveRefusalTests
{
    private static readonly byte[] Pickle = new PickleBuilder().Proto(2).Tensor1d("ByteStorage", "0", "cpu", 4096).Stop().ToArray();

    // The legacy format's magic number as pickle writes it (LONG1 of ten bytes), and a tar header's "ustar".
    private static readonly byte[] LegacyMagic = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

    public static TheoryData<string, byte[], FormatErrorKind, string> Refusals => new()
    {
        {
            "empty zip", new ZipBuilder().ToArray(),
            FormatErrorKind.NotAnArchive, "x.pt: empty zip archive, not a torch.save archive"
        },
        {
            "stored sizes differ", new ZipBuilder().Add("m/data.pkl", Pickle, declaredSize: Pickle.Length + 1).ToArray(),
            FormatErrorKind.Corrupt, "x.pt: stored record 'm/data.pkl' has different compressed and uncompressed sizes (corrupt archive)"
        },
        {
            "one record under two names", new ZipBuilder().Add("m/data.pkl", Pickle).Add("m/data/0", new byte[4096]).Alias("m/data/1", "m/data/0").ToArray(),
            FormatErrorKind.Corrupt, "x.pt: records 'm/data/0' and 'm/data/1' overlap (corrupt or crafted archive)"
        },
        {
            "bzip2", new ZipBuilder().AddRaw("m/data.pkl", Pickle, method: 12).ToArray(),
            FormatErrorKind.Unsupported, "x.pt: record 'm/data.pkl' uses zip compression method 12; torch reads stored or deflated records only"
        },
        {
            "torchscript constants", new ZipBuilder().Add("m/data.pkl", Pickle).Add("m/constants.pkl", Pickle).ToArray(),
            FormatErrorKind.TorchScript, "x.pt: a TorchScript archive (torch.jit.save), not a torch.save archive; load it with torch.jit.load(f, map_location=...) or export its state_dict with torch.save"
        },
        {
            "torchscript code", new ZipBuilder().Add("m/data.pkl", Pickle).Add("m/code/__torch__.py", "x"u8.ToArray()).ToArray(),
            FormatErrorKind.TorchScript, "x.pt: a TorchScript archive (torch.jit.save), not a torch.save archive; load it with torch.jit.load(f, map_location=...) or export its state_dict with torch.save"
        },
        {
            "no folder", new ZipBuilder().Add("data.pkl", Pickle).ToArray(),
            FormatErrorKind.NotAnArchive, "x.pt: record 'data.pkl' is not inside a root folder; not a torch.save archive"
        },
        {
            "empty folder name", new ZipBuilder().Add("/data.pkl", Pickle).ToArray(),
            FormatErrorKind.NotAnArchive, "x.pt: record '/data.pkl' is not inside a root folder; not a torch.save archive"
        },
        {
            "not deflate data", new ZipBuilder().AddRaw("m/data.pkl", [0xff, 0xff, 0xff, 0xff], method: 8).ToArray(),
            FormatErrorKind.Corrupt, "x.pt: record 'm/data.pkl' is not valid deflate data (corrupt archive)"
        },
        {
            "inflates short", new ZipBuilder().Add("m/data.pkl", Pickle, deflate: true, declaredSize: Pickle.Length + 10).ToArray(),
            FormatErrorKind.Truncated, $"x.pt: record 'm/data.pkl' inflates to less than its declared {Pickle.Length + 10} bytes (truncated or corrupt archive)"
        },
        {
            "tar", Tar(),
            FormatErrorKind.Legacy, "x.pt: legacy tar-format torch.save file (PyTorch 0.1 to 0.3) is not supported; load it with an old PyTorch and save it again with torch.save to get the zip format"
        },
        {
            "legacy pickle", [0x80, 0x02, .. LegacyMagic, 0x2e],
            FormatErrorKind.Legacy, "x.pt: legacy torch.save format (PyTorch < 1.6, _use_new_zipfile_serialization=False) is not supported; re-save it with torch.save(torch.load(f, map_location='cpu'), f2) and convert that"
        },
        {
            // The magic as late as it may start (byte 15 of the file's head): still the legacy format.
            "legacy pickle, magic at 15", [0x80, 0x02, .. new byte[13], .. LegacyMagic[2..], 0x2e],
            FormatErrorKind.Legacy, "x.pt: legacy torch.save format (PyTorch < 1.6, _use_new_zipfile_serialization=False) is not supported; re-save it with torch.save(torch.load(f, map_location='cpu'), f2) and convert that"
        },
        {
            "magic at 16", [0x80, 0x02, .. new byte[14], .. LegacyMagic[2..], 0x2e],
            FormatErrorKind.NotAnArchive, "x.pt: a bare pickle, not a torch.save archive (no zip container)"
        },
        {
            // A record beside the root folder whose name only starts like it.
            "sibling folder", new ZipBuilder().Add("m/data.pkl", Pickle).Add("mm/data/0", new byte[4096]).ToArray(),
            FormatErrorKind.Corrupt, "x.pt: record 'mm/data/0' lies outside the archive's root folder 'm/'"
        },
        {
            "four-byte zip signature", "PK\u0003\u0004"u8.ToArray(),
            FormatErrorKind.Truncated, "x.pt: file of 4 bytes is too short to be a zip archive (truncated?)"
        },
    };

    public static TheoryData<byte[]> NotZipSignatures => new()
    {
        Head("PK\u0001\u0002"), Head("PX\u0003\u0004"), Head("QK\u0003\u0004"), Head("PK\u0003\u0007"), Head("PK\u0007\u0004"), Head("PK\u0004\u0003"),
    };

    // Names carrying line breaks and other control characters: wherever they are named, the line stays one line.
    public static TheoryData<string, byte[]> ControlCharacterNames => new()
    {
        { "twice", new ZipBuilder().Add("m/a\nb", [1]).Add("m/a\nb", [2]).Add("m/data.pkl", Pickle).ToArray() },
        { "method", new ZipBuilder().AddRaw("m/data\r\n.pkl", Pickle, method: 12).ToArray() },
        { "outside", new ZipBuilder().Add("m/data.pkl", Pickle).Add("n\n/x", [1]).ToArray() },
        { "no folder", new ZipBuilder().Add("data\u001b[31m.pkl", Pickle).ToArray() },
        { "no data.pkl", new ZipBuilder().Add("m\n/other.pkl", Pickle).ToArray() },
        { "storage key", new ZipBuilder().Add("m/data.pkl", new PickleBuilder().Proto(2).Tensor1d("ByteStorage", "0\nERROR forged", "cpu", 1).Stop().ToArray()).ToArray() },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task Open_RefusesWithItsKindAndLine(string what, byte[] archive, FormatErrorKind kind, string line)
    {
        var error = await RefusedAsync(archive);

        Assert.True(kind == error.Kind, $"{what}: {error.Kind}, {error.Message}");
        Assert.Equal(line, error.Message);
    }

    [Theory]
    [MemberData(nameof(NotZipSignatures))]
    public async Task Open_FourBytesThatAreNoZipSignature_AreNotAnArchive(byte[] archive)
    {
        var error = await RefusedAsync(archive);

        Assert.Equal(FormatErrorKind.NotAnArchive, error.Kind);
        Assert.Equal("x.pt: not a torch.save archive (no zip signature at the start; truncated or another format)", error.Message);
    }

    [Fact]
    public async Task Open_TarHeaderEndingAtTheFileEnd_IsStillLegacy()
    {
        var error = await RefusedAsync(Tar()[..262]);

        Assert.Equal(FormatErrorKind.Legacy, error.Kind);
    }

    [Theory]
    [MemberData(nameof(ControlCharacterNames))]
    public async Task Open_NamesWithControlCharacters_AreRefusedInOneEscapedLine(string what, byte[] archive)
    {
        var error = await RefusedAsync(archive);

        Assert.False(error.Message.Any(char.IsControl), $"{what}: {error.Message}");
        Assert.Contains("\\u00", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_RecordNamedWithALineBreak_IsNamedEscaped()
    {
        var error = await RefusedAsync(new ZipBuilder().Add("m/a\nb", [1]).Add("m/a\nb", [2]).Add("m/data.pkl", Pickle).ToArray());

        Assert.Equal("x.pt: record 'm/a\\u000ab' appears twice (corrupt archive)", error.Message);
    }

    [Theory]
    [InlineData(200, false)]
    [InlineData(201, true)]
    public async Task Open_LongRecordName_IsShownUpTo200Characters(int length, bool cut)
    {
        var name = "m/" + new string('n', length - 2);

        var error = await RefusedAsync(new ZipBuilder().Add(name, [1]).Add(name, [2]).Add("m/data.pkl", Pickle).ToArray());

        Assert.Equal($"x.pt: record '{(cut ? name[..200] + "..." : name)}' appears twice (corrupt archive)", error.Message);
    }

    [Fact]
    public async Task Open_PickleOfExactlyTheLimit_IsRead_OneByteMore_IsRefused()
    {
        var archive = new ZipBuilder().Add("m/data.pkl", Pickle).Add("m/data/0", new byte[4096]).ToArray();

        await OpenAsync(archive, new ArchiveLimits { MaxPickleBytes = Pickle.Length });
        var error = await RefusedAsync(archive, new ArchiveLimits { MaxPickleBytes = Pickle.Length - 1 });

        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.Equal($"x.pt: data.pkl of {Pickle.Length} bytes exceeds the limit of {Pickle.Length - 1} bytes", error.Message);
    }

    [Fact]
    public async Task Open_DeflatedRecords_RefusedOnlyWhenPastBothTheAllowanceAndTheRatio()
    {
        // 4,096 zero bytes deflate to a few bytes: the expansion is thousands to one.
        var archive = new ZipBuilder().Add("m/data.pkl", Pickle).Add("m/data/0", new byte[4096], deflate: true).ToArray();
        var compressed = CompressedSizeOfStorage(archive);
        var ratio = 4096.0 / compressed;
        Assert.Equal(4096.0, compressed * ratio); // the ratio bound itself, exactly

        // At either bound exactly, or past only one of them: read.
        await OpenAsync(archive, new ArchiveLimits { ExpansionAllowance = 4096, MaxExpansionRatio = 1 });
        await OpenAsync(archive, new ArchiveLimits { ExpansionAllowance = 0, MaxExpansionRatio = ratio });
        await OpenAsync(archive, new ArchiveLimits { ExpansionAllowance = 4095, MaxExpansionRatio = 10_000 });

        // Past both: refused.
        var error = await RefusedAsync(archive, new ArchiveLimits { ExpansionAllowance = 4095, MaxExpansionRatio = ratio * 0.999 });
        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.StartsWith($"x.pt: deflated records would expand {compressed} bytes to 4096 bytes, beyond the limit of ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_DeclaredSizesSummingPast2To63_AreRefusedAsAZipBomb_NotAnOverflow()
    {
        // Each size fits a long; their sum does not. Summed in 64 bits it would wrap negative and pass.
        const ulong each = 0x6000_0000_0000_0000;
        var archive = new ZipBuilder()
            .Add("m/data.pkl", Pickle)
            .Add("m/data/0", new byte[4096], deflate: true, zip64DeclaredSize: each)
            .Add("m/data/1", new byte[4096], deflate: true, zip64DeclaredSize: each)
            .ToArray();
        var compressed = 2 * CompressedSizeOfStorage(new ZipBuilder().Add("m/data.pkl", Pickle).Add("m/data/0", new byte[4096], deflate: true).ToArray());

        var error = await RefusedAsync(archive, ArchiveLimits.Default);

        Assert.Equal(FormatErrorKind.LimitExceeded, error.Kind);
        Assert.Equal($"x.pt: deflated records would expand {compressed} bytes to {(UInt128)each * 2} bytes, beyond the limit of 200:1 (zip bomb?)", error.Message);
    }

    [Fact]
    public void DefaultLimits_AreTheBoundsDocsSecurityStates()
    {
        // docs/security.md, "Bounds": data.pkl 16 MiB; records / central directory 300,000 / 32 MiB; deflate 200:1 past 64 MiB.
        var limits = ArchiveLimits.Default;

        Assert.Equal((16L << 20, 300_000L, 32L << 20, 200.0, 64L << 20), (limits.MaxPickleBytes, limits.MaxEntries, limits.MaxCentralDirectoryBytes, limits.MaxExpansionRatio, limits.ExpansionAllowance));
    }

    private static long CompressedSizeOfStorage(byte[] archive)
    {
        using var zip = new System.IO.Compression.ZipArchive(new MemoryStream(archive));
        return zip.GetEntry("m/data/0")!.CompressedLength;
    }

    private static byte[] Head(string signature) => [.. Encoding.Latin1.GetBytes(signature), .. new byte[60]];

    private static byte[] Tar()
    {
        var header = new byte[512];
        Encoding.ASCII.GetBytes("pickle").CopyTo(header, 0);
        "ustar"u8.CopyTo(header.AsSpan(257));
        return header;
    }

    private static Task<TorchArchive> OpenAsync(byte[] archive, ArchiveLimits? limits = null) =>
        TorchArchive.OpenAsync(new MemorySource(archive, "x.pt"), limits);

    private static async Task<ArtifactFormatException> RefusedAsync(byte[] archive, ArchiveLimits? limits = null) =>
        await Assert.ThrowsAsync<ArtifactFormatException>(() => OpenAsync(archive, limits));
}
