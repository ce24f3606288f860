namespace TorchFerry.Format.Tests;

/// <summary>A file of pseudo-random bytes, the same for the same length, for tests of copies and reads.</summary>
internal static class RandomFile
{
    public static string Write(string path, int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
