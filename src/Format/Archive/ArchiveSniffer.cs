namespace TorchFerry.Format.Archive;

/// <summary>
/// Tells a torch.save zip archive from the formats TorchFerry refuses, by their first bytes, so the
/// error says what the file is and what to do instead of "corrupt zip".
/// </summary>
internal static class ArchiveSniffer
{
    // The legacy format's pickled magic number 0x1950a86a20f9469cfc6c as a LONG1 payload.
    private static readonly byte[] LegacyMagic = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

    public static async Task EnsureZipAsync(IRandomAccessSource source, CancellationToken cancellationToken)
    {
        if (source.Length == 0)
        {
            throw new ArtifactFormatException(FormatErrorKind.NotAnArchive, $"{source.Name}: empty file, not a torch.save archive");
        }

        var head = new byte[(int)Math.Min(source.Length, 512)];
        await source.ReadExactlyAsync(0, head, cancellationToken).ConfigureAwait(false);
        if (head.Length >= 4 && head[0] == (byte)'P' && head[1] == (byte)'K' && head[2] is 3 or 5 && head[3] is 4 or 6)
        {
            return;
        }

        if (head.Length >= 262 && head.AsSpan(257, 5).SequenceEqual("ustar"u8))
        {
            throw new ArtifactFormatException(FormatErrorKind.Legacy, 
                $"{source.Name}: legacy tar-format torch.save file (PyTorch 0.1 to 0.3) is not supported; "
                + "load it with an old PyTorch and save it again with torch.save to get the zip format");
        }

        if (head[0] == 0x80)
        {
            if (head.AsSpan().IndexOf(LegacyMagic) is >= 0 and < 16)
            {
                throw new ArtifactFormatException(FormatErrorKind.Legacy, 
                    $"{source.Name}: legacy torch.save format (PyTorch < 1.6, _use_new_zipfile_serialization=False) is not supported; "
                    + "re-save it with torch.save(torch.load(f, map_location='cpu'), f2) and convert that");
            }

            throw new ArtifactFormatException(FormatErrorKind.NotAnArchive, $"{source.Name}: a bare pickle, not a torch.save archive (no zip container)");
        }

        throw new ArtifactFormatException(FormatErrorKind.NotAnArchive, $"{source.Name}: not a torch.save archive (no zip signature at the start; truncated or another format)");
    }
}
