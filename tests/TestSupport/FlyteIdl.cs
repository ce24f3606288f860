using System.Diagnostics;
using System.Text.Json.Nodes;

namespace TorchFerry.TestSupport;

/// <summary>Flyte's own protobuf code (npm @flyteorg/flyteidl, pinned in tests/tools) to write and read LiteralMaps as Flyte does.</summary>
public static class FlyteIdl
{
    private static string Script => Path.Combine(RepositoryPaths.Tools, "flyte-literals.js");

    /// <summary>A Literal holding a blob of a Flyte format (PyTorchCheckpoint, ...) at a URI, in the object shape Encode takes.</summary>
    public static JsonObject BlobLiteral(string format, string uri) => new()
    {
        ["scalar"] = new JsonObject
        {
            ["blob"] = new JsonObject { ["metadata"] = new JsonObject { ["type"] = new JsonObject { ["format"] = format } }, ["uri"] = uri },
        },
    };

    /// <summary>A Literal holding a MULTIPART blob (a FlyteDirectory) at a folder URI ending with '/'.</summary>
    public static JsonObject DirectoryLiteral(string format, string uri)
    {
        var literal = BlobLiteral(format, uri);
        literal["scalar"]!["blob"]!["metadata"]!["type"]!["dimensionality"] = 1; // MULTIPART
        return literal;
    }

    /// <summary>Encodes a LiteralMap given in the generated JS classes' object shape (enums as numbers).</summary>
    public static byte[] Encode(JsonNode literalMap)
    {
        var file = Path.GetTempFileName();
        try
        {
            Run(["encode", file], literalMap.ToJsonString());
            return File.ReadAllBytes(file);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>Decodes a serialized LiteralMap into the same object shape.</summary>
    public static JsonNode Decode(byte[] literalMap)
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(file, literalMap);
            return JsonNode.Parse(Run(["decode", file], null))!;
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>Encodes one Literal (an offloaded literal's file) given in the generated JS classes' object shape.</summary>
    public static byte[] EncodeLiteral(JsonNode literal)
    {
        var file = Path.GetTempFileName();
        try
        {
            Run(["encode-literal", file], literal.ToJsonString());
            return File.ReadAllBytes(file);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>Decodes one serialized Literal into the same object shape.</summary>
    public static JsonNode DecodeLiteral(byte[] literal)
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(file, literal);
            return JsonNode.Parse(Run(["decode-literal", file], null))!;
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>Decodes an error.pb (flyteidl.core.ErrorDocument) into its object shape (enums as numbers).</summary>
    public static JsonNode DecodeError(byte[] errorDocument)
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(file, errorDocument);
            return JsonNode.Parse(Run(["decode-error", file], null))!;
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static string Run(string[] args, string? input)
    {
        if (!File.Exists(Path.Combine(RepositoryPaths.Tools, "node_modules", "@flyteorg", "flyteidl", "package.json")))
        {
            throw new InvalidOperationException("@flyteorg/flyteidl is missing: run scripts/install-test-deps.sh (npm ci in tests/tools)");
        }

        using var process = Process.Start(new ProcessStartInfo("node", [Script, .. args])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepositoryPaths.Tools,
        }) ?? throw new InvalidOperationException("could not start node");
        if (input is not null)
        {
            process.StandardInput.Write(input);
        }

        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0 ? output : throw new InvalidOperationException($"flyte-literals.js {args[0]} failed: {error}");
    }
}
