using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace TorchFerry.Format.Conversion;

/// <summary>
/// What paths are on Linux, asked of the kernel rather than compared as strings: the file a path
/// resolves to (device and inode, through symbolic links), its type and mode, and a rename that
/// never replaces (<c>renameat2(RENAME_NOREPLACE)</c>, else <c>link</c> + <c>unlink</c>).
/// </summary>
public static partial class LocalFiles
{
    private const int AtFdCwd = -100;
    private const uint StatxBasicStats = 0x7ff;
    private const int RenameNoReplace = 1;
    private const int EEXIST = 17;
    private const int ENOENT = 2;
    private const int ENOTDIR = 20;
    private const int ENOSYS = 38;
    private const int EINVAL = 22;
    private const int ENOTSUP = 95;
    private const ushort TypeMask = 0xF000;
    private const ushort RegularFile = 0x8000;

    /// <summary>The file <paramref name="path"/> resolves to, or null when nothing is there.</summary>
    public static FileIdentity? Identify(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!OperatingSystem.IsLinux())
        {
            return File.Exists(path) ? new FileIdentity(0, 0, true, Path.GetFullPath(path).GetHashCode(StringComparison.Ordinal), default) : null;
        }

        Span<byte> buffer = stackalloc byte[256];
        if (Statx(AtFdCwd, path, 0, StatxBasicStats, ref MemoryMarshal.GetReference(buffer)) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno is ENOENT or ENOTDIR ? null : throw new IOException($"{path}: cannot stat it (errno {errno})");
        }

        var mode = BinaryPrimitives.ReadUInt16LittleEndian(buffer[28..]);
        var inode = BinaryPrimitives.ReadUInt64LittleEndian(buffer[32..]);
        var device = ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(buffer[136..]) << 32) | BinaryPrimitives.ReadUInt32LittleEndian(buffer[140..]);
        return new FileIdentity(device, inode, (mode & TypeMask) == RegularFile, 0, (UnixFileMode)(mode & 0x1FF));
    }

    /// <summary>Renames <paramref name="from"/> to <paramref name="to"/> only if nothing is at <paramref name="to"/>, atomically.</summary>
    /// <exception cref="IOException">Something is already at <paramref name="to"/> (HResult EEXIST), or the rename failed.</exception>
    public static void MoveNoReplace(string from, string to)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        if (OperatingSystem.IsLinux())
        {
            if (Renameat2(AtFdCwd, from, AtFdCwd, to, RenameNoReplace) == 0)
            {
                return;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno == EEXIST)
            {
                throw new IOException($"{to}: already exists", EEXIST);
            }

            if (errno is not (ENOSYS or EINVAL or ENOTSUP))
            {
                throw new IOException($"{to}: cannot rename into place (errno {errno})", errno);
            }
        }

        // No renameat2 here (an old kernel, another file system): a hard link fails the same way if taken.
        if (OperatingSystem.IsLinux() && Link(from, to) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno == EEXIST ? new IOException($"{to}: already exists", EEXIST) : new IOException($"{to}: cannot link into place (errno {errno})", errno);
        }
        else if (!OperatingSystem.IsLinux())
        {
            File.Move(from, to, overwrite: false);
            return;
        }

        File.Delete(from);
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, ref byte buffer);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string oldpath, string newpath);

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);
}

/// <summary>The file a path resolves to.</summary>
/// <param name="Device">The device holding it.</param>
/// <param name="Inode">Its inode on that device.</param>
/// <param name="IsRegular">A regular file (not a device, pipe, socket or folder).</param>
/// <param name="Fallback">Where the kernel cannot be asked, a stand-in for the identity.</param>
/// <param name="Mode">Its permission bits.</param>
public readonly record struct FileIdentity(ulong Device, ulong Inode, bool IsRegular, int Fallback, UnixFileMode Mode)
{
    /// <summary>Whether both are the same file.</summary>
    public bool IsSameFileAs(FileIdentity other) => Device == other.Device && Inode == other.Inode && Fallback == other.Fallback;
}
