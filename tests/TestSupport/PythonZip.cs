using System.Diagnostics;
using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport;

/// <summary>Python's own zipfile module as an independent reader of archives we write.</summary>
public static class PythonZip
{
    private const string Script = """
        import json, sys, zipfile
        with zipfile.ZipFile(sys.argv[1]) as z:
            out = [{"name": i.filename, "size": i.file_size, "offset": i.header_offset, "method": i.compress_type} for i in z.infolist()]
            small = {i.filename: z.read(i.filename).hex() for i in z.infolist() if i.file_size < 4096}
        print(json.dumps({"records": out, "small": small}))
        """;

    /// <summary>Lists records (name, size, offset, method) and the hex content of records under 4 KiB (CRC-checked by zipfile).</summary>
    public static JsonNode List(string path)
    {
        using var process = Process.Start(new ProcessStartInfo(TorchOracle.Python, ["-c", Script, path])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        }) ?? throw new InvalidOperationException("could not start python3");
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0
            ? JsonNode.Parse(output)!
            : throw new InvalidOperationException($"python zipfile could not read {path}: {error}");
    }
}
