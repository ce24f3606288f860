using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace TorchFerry.Format.Archive;

/// <summary>
/// Linux <c>copy_file_range(2)</c>: copies a byte range between two files inside the kernel (a
/// reflink or server-side copy where the file system offers one), as <c>cp</c> does. Callers fall
/// back to a read/write copy when it is not available.
/// </summary>
internal static partial class KernelCopy
{
    private const int ENOSYS = 38;
    private const int EXDEV = 18;
    private const int EINVAL = 22;
    private const int EOPNOTSUPP = 95;
    private static volatile bool unavailable = !OperatingSystem.IsLinux();

    /// <summary>Copies <paramref name="length"/> bytes; false if the kernel cannot (nothing was copied then).</summary>
    public static bool TryCopy(SafeFileHandle source, long sourceOffset, SafeFileHandle destination, long destinationOffset, long length, CancellationToken cancellationToken = default)
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
            var chunk = (nint)Math.Min(length - copied, 128L << 20);
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

            copied += n;
        }

        return true;
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

    [LibraryImport("libc", EntryPoint = "copy_file_range", SetLastError = true)]
    private static partial nint CopyFileRange(SafeFileHandle fdIn, ref long offIn, SafeFileHandle fdOut, ref long offOut, nint len, uint flags);
}
