using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace TorchFerry.TestSupport;

/// <summary>
/// A small XFS file system with reflink (<c>mkfs.xfs -m reflink=1</c>) in a sparse image,
/// loop-mounted for the tests of clones: the real kernel decides what is shared. Needs root and
/// xfsprogs (scripts/install-test-deps.sh); without them it fails saying so.
/// </summary>
public sealed partial class ReflinkVolume : IDisposable
{
    private const string MkfsXfs = "/usr/sbin/mkfs.xfs";
    private const string XfsIo = "/usr/sbin/xfs_io";
    private readonly TemporaryDirectory folder = new();
    private bool mounted;

    public ReflinkVolume()
    {
        if (!File.Exists(MkfsXfs) || !File.Exists(XfsIo))
        {
            throw new InvalidOperationException($"{MkfsXfs} or {XfsIo} is missing: run scripts/install-test-deps.sh (Debian's xfsprogs)");
        }

        if (Environment.UserName != "root")
        {
            throw new InvalidOperationException("the clone tests loop-mount an XFS image, which needs root (the test machines run as root)");
        }

        var image = folder.File("xfs.img");
        using (var file = File.Create(image))
        {
            file.SetLength(512L << 20); // sparse: costs what XFS writes
        }

        Path = folder.File("mnt");
        Directory.CreateDirectory(Path);
        Run(MkfsXfs, "-q", "-m", "reflink=1", image);
        Run("mount", "-o", "loop", image, Path);
        mounted = true;
    }

    /// <summary>Where the file system is mounted.</summary>
    public string Path { get; }

    /// <summary>Bytes free on the file system, after flushing what is pending.</summary>
    public long FreeBytes
    {
        get
        {
            Run("sync", "-f", Path);
            return new DriveInfo(Path).AvailableFreeSpace;
        }
    }

    /// <summary>Bytes of <paramref name="file"/> whose extents are shared with another file (FIEMAP's shared flag, read by xfs_io).</summary>
    public static long SharedBytes(string file)
    {
        // "   0: [0..46975]:      24..46999       46976 0x2000": 512-byte units, flags last.
        var shared = 0L;
        foreach (Match line in FiemapLine().Matches(Run(XfsIo, "-r", "-c", "fiemap -v", file)))
        {
            var flags = Convert.ToInt64(line.Groups["flags"].Value, 16);
            if ((flags & 0x2000) != 0)
            {
                shared += long.Parse(line.Groups["blocks"].Value, CultureInfo.InvariantCulture) * 512;
            }
        }

        return shared;
    }

    public void Dispose()
    {
        if (mounted)
        {
            Run("umount", Path);
            mounted = false;
        }

        folder.Dispose();
    }

    private static string Run(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0 ? output : throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({process.ExitCode}): {error.Result}");
    }

    [GeneratedRegex(@"^\s*\d+: \[\d+\.\.\d+\]:\s+\d+\.\.\d+\s+(?<blocks>\d+)\s+(?<flags>0x[0-9a-f]+)\s*$", RegexOptions.Multiline)]
    private static partial Regex FiemapLine();
}
