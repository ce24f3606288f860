using System.Diagnostics;

namespace TorchFerry.TestSupport;

/// <summary>
/// A real S3 protocol server for tests: <c>s3rver</c> (npm, pinned in tests/tools) on 127.0.0.1 with
/// a bucket named <see cref="Bucket"/>. It can be stopped and started again on the same port and
/// data folder, to test what happens when the store goes away mid-upload.
/// </summary>
public sealed class S3Server : IDisposable
{
    public const string Bucket = "torchferry-test";
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";
    private readonly string script;
    private readonly TemporaryDirectory data = new();
    private Process? process;

    public S3Server()
    {
        script = Path.Combine(RepositoryPaths.Tools, "node_modules", "s3rver", "bin", "s3rver.js");
        if (!File.Exists(script))
        {
            throw new InvalidOperationException($"s3rver is missing at {script}: run scripts/install-test-deps.sh (npm ci in tests/tools)");
        }

        Start();
    }

    /// <summary>The port s3rver chose at its first start (port 0) and binds again after a restart.</summary>
    public int Port { get; private set; }

    public Uri Endpoint => new($"http://127.0.0.1:{Port}");

    // s3rver keeps each multipart upload in <directory>/<bucket>/._S3rver_uploads/<uploadId>, the key in a file "key".
    private string UploadsFolder => Path.Combine(data.Path, Bucket, "._S3rver_uploads");

    /// <summary>
    /// The keys of multipart uploads begun and neither completed nor aborted, as S3's
    /// ListMultipartUploads would list them (s3rver does not implement it; its files say the same).
    /// Their parts cost storage on S3 until aborted.
    /// </summary>
    public IReadOnlyList<string> OpenUploads() =>
        Directory.Exists(UploadsFolder)
            ? [.. Directory.GetDirectories(UploadsFolder).Where(d => File.Exists(Path.Combine(d, "key"))).Select(d => File.ReadAllText(Path.Combine(d, "key")))]
            : [];

    /// <summary>AbortMultipartUpload as S3 does it (s3rver answers it with 405): the upload and its parts are gone; false when there was none.</summary>
    public bool AbortUpload(string uploadId)
    {
        var folder = Path.Combine(UploadsFolder, Path.GetFileName(uploadId));
        if (uploadId.Length == 0 || !Directory.Exists(folder))
        {
            return false;
        }

        Directory.Delete(folder, recursive: true);
        return true;
    }

    /// <summary>A plain SDK client for this server (s3rver's credentials, path-style, aws-chunked off).</summary>
    public static Amazon.S3.AmazonS3Client CreateClient(Uri endpoint) => new(
        new Amazon.Runtime.BasicAWSCredentials(AccessKey, SecretKey),
        new Amazon.S3.AmazonS3Config
        {
            ServiceURL = endpoint.ToString(),
            ForcePathStyle = true,
            AuthenticationRegion = "us-east-1",
            RequestChecksumCalculation = Amazon.Runtime.RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = Amazon.Runtime.ResponseChecksumValidation.WHEN_REQUIRED,
        });

    public void Start()
    {
        if (process is { HasExited: false })
        {
            return;
        }

        // s3rver's continuation tokens use a cipher that Node's OpenSSL 3 keeps in its legacy provider:
        // without it every listing past 1,000 keys fails with InternalError, where S3 pages on.
        process = Process.Start(new ProcessStartInfo("node", ["--openssl-legacy-provider", script, "--directory", data.Path, "--address", "127.0.0.1", "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--configure-bucket", Bucket, "--silent"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("could not start node (apt-get install nodejs)");
        // s3rver says where it listens ("S3rver listening on 127.0.0.1:PORT") even when silent.
        var started = process;
        var listening = Task.Run(() =>
        {
            while (started.StandardOutput.ReadLine() is { } line)
            {
                if (line.StartsWith("S3rver listening on ", StringComparison.Ordinal))
                {
                    return int.Parse(line[(line.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
                }
            }

            return 0;
        });
        if (!listening.Wait(TimeSpan.FromSeconds(20)) || listening.Result == 0)
        {
            Stop();
            throw new InvalidOperationException($"s3rver did not say it listens within 20 s: {(started.HasExited ? started.StandardError.ReadToEnd() : "still starting")}");
        }

        Port = listening.Result;
        _ = started.StandardOutput.ReadToEndAsync(); // keep the pipe drained
    }

    public void Stop()
    {
        if (process is { HasExited: false })
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
    }

    public void Dispose()
    {
        Stop();
        process?.Dispose();
        data.Dispose();
    }
}
