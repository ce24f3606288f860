using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace TorchFerry.Format.Archive;

/// <summary>
/// Linux <c>copy_file_range(2)</c>: copies a byte range between two files inside the kernel, as
/// <c>cp</c> does; and <c>FICLONERANGE</c>: shares a block-aligned range's extents instead of copying
/// them (XFS with reflink, btrfs), as <c>cp --reflink</c> does. Callers fall back to a read/write
/// copy when neither is available.
/// </summary>
internal static partial class KernelCopy
{
    private const int ENOSYS = 38;
    private const int EXDEV = 18;
    private const int EINVAL = 22;
    private const int EOPNOTSUPP = 95;
    private const int ENOTTY = 25;
    private const int EBADF = 9;
    private const int EPERM = 1;
    private const int ETXTBSY = 26;

    // _IOW(0x94, 13, struct file_clone_range): the same number on x86-64 and arm64.
    private const nuint FICLONERANGE = 0x4020940D;
    private static volatile bool unavailable = !OperatingSystem.IsLinux();

    /// <summary>Copies <paramref name="length"/> bytes; false if the kernel cannot (nothing was copied then).</summary>
    /// <param name="source">The file read.</param>
    /// <param name="sourceOffset">Where in it.</param>
    /// <param name="destination">The file written.</param>
    /// <param name="destinationOffset">Where in it.</param>
    /// <param name="length">Bytes to copy.</param>
    /// <param name="startWriteback">Start writing each copied slice back to disk at once (the file is to be fsynced), so the disk works while the next slice is copied.</param>
    /// <param name="cancellationToken">Seen between slices.</param>
    public static bool TryCopy(SafeFileHandle source, long sourceOffset, SafeFileHandle destination, long destinationOffset, long length, bool startWriteback = false, CancellationToken cancellationToken = default)
    {
        if (unavailable)
        {
            return false;
        }

        var copied = 0L;
        while (copied < length)
        {
            // In slices, so SIGTERM and SIGINT are seen within a fraction of a second whatever the size.
            cancellationToken.ThrowIfCancellationRequested();
            long inOffset = sourceOffset + copied, outOffset = destinationOffset + copied;
            var chunk = (nint)Math.Min(length - copied, 32L << 20);
            var n = CopyFileRange(source, ref inOffset, destination, ref outOffset, chunk, 0);
            if (n < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (copied == 0 && errno is ENOSYS or EXDEV or EINVAL or EOPNOTSUPP)
                {
                    unavailable |= errno == ENOSYS;
                    return false;
                }

                throw new IOException($"copy_file_range failed with errno {errno} after {copied} of {length} bytes");
            }

            if (n == 0)
            {
                throw new IOException($"copy_file_range reached the end of the source after {copied} of {length} bytes (truncated file?)");
            }

            if (startWriteback)
            {
                StartWriteback(destination, destinationOffset + copied, n);
            }

            copied += n;
        }

        return true;
    }

    /// <summary>
    /// Makes <paramref name="length"/> bytes of <paramref name="destination"/> from
    /// <paramref name="destinationOffset"/> share the extents of <paramref name="source"/>'s range
    /// (no data is read or written); both offsets and the length must be multiples of the file
    /// system's block size. False where the file system cannot (ext4, another file system, another
    /// mount, an unaligned range): nothing changed then.
    /// </summary>
    public static bool TryClone(SafeFileHandle source, long sourceOffset, SafeFileHandle destination, long destinationOffset, long length)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        if (!OperatingSystem.IsLinux() || length <= 0)
        {
            return false;
        }

        var added = false;
        try
        {
            source.DangerousAddRef(ref added);
            var range = new FileCloneRange
            {
                SourceFd = source.DangerousGetHandle().ToInt64(),
                SourceOffset = (ulong)sourceOffset,
                SourceLength = (ulong)length,
                DestinationOffset = (ulong)destinationOffset,
            };
            if (IoctlCloneRange(destination, FICLONERANGE, ref range) == 0)
            {
                return true;
            }

            var errno = Marshal.GetLastPInvokeError();
            return errno is EOPNOTSUPP or EXDEV or EINVAL or ENOTTY or EBADF or EPERM or ETXTBSY
                ? false
                : throw new IOException($"FICLONERANGE failed with errno {errno} for {length} bytes");
        }
        finally
        {
            if (added)
            {
                source.DangerousRelease();
            }
        }
    }

    /// <summary>The block size of the file system holding <paramref name="file"/> (what clones align to), or 0 when unknown.</summary>
    public static int BlockSize(SafeFileHandle file)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (!OperatingSystem.IsLinux() || IntPtr.Size != 8)
        {
            return 0;
        }

        // struct statfs on 64-bit Linux: f_type, then f_bsize, each a long.
        Span<long> buffer = stackalloc long[16];
        return Fstatfs(file, ref MemoryMarshal.GetReference(buffer)) == 0 && buffer[1] is > 0 and <= 1 << 20 ? (int)buffer[1] : 0;
    }

    /// <summary>
    /// Starts writing a range of <paramref name="file"/> back to disk without waiting
    /// (sync_file_range with SYNC_FILE_RANGE_WRITE), so a later fsync overlaps other work.
    /// </summary>
    public static void StartWriteback(SafeFileHandle file, long offset, long length)
    {
        if (OperatingSystem.IsLinux())
        {
            _ = SyncFileRange(file, offset, length, 2);
        }
    }

    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    private static partial int SyncFileRange(SafeFileHandle fd, long offset, long nbytes, uint flags);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlCloneRange(SafeFileHandle fd, nuint request, ref FileCloneRange range);

    [LibraryImport("libc", EntryPoint = "fstatfs", SetLastError = true)]
    private static partial int Fstatfs(SafeFileHandle fd, ref long buffer);

    [LibraryImport("libc", EntryPoint = "copy_file_range", SetLastError = true)]
    private static partial nint CopyFileRange(SafeFileHandle fdIn, ref long offIn, SafeFileHandle fdOut, ref long offOut, nint len, uint flags);

    [StructLayout(LayoutKind.Sequential)]
    private struct FileCloneRange
    {
        public long SourceFd;
        public ulong SourceOffset;
        public ulong SourceLength;
        public ulong DestinationOffset;
    }
}
