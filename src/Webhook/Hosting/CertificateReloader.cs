using System.Security.Cryptography.X509Certificates;
using Serilog;

namespace TorchFerry.Webhook.Hosting;

/// <summary>
/// The serving certificate from PEM files, reloaded when they change (cert-manager and the chart's
/// rotation replace them in place). Checked at most every few seconds; a half-written pair keeps the
/// previous certificate until both files load.
/// </summary>
internal sealed class CertificateReloader(string certificatePath, string keyPath, TimeProvider time, ILogger log)
{
    private static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(2);
    private readonly Lock gate = new();
    private X509Certificate2? current;
    private (DateTime Cert, DateTime Key) loadedStamps;
    private long lastCheck = long.MinValue;

    public X509Certificate2 Current
    {
        get
        {
            lock (gate)
            {
                var now = time.GetTimestamp();
                if (current is null || lastCheck == long.MinValue || time.GetElapsedTime(lastCheck, now) >= CheckEvery)
                {
                    lastCheck = now;
                    TryReload();
                }

                return current ?? throw new InvalidOperationException($"no serving certificate could be loaded from {certificatePath} and {keyPath}");
            }
        }
    }

    private void TryReload()
    {
        var stamps = (File.GetLastWriteTimeUtc(certificatePath), File.GetLastWriteTimeUtc(keyPath));
        if (current is not null && stamps == loadedStamps)
        {
            return;
        }

        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);

            // Re-import so the private key is usable by SslStream on every platform.
            var loaded = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            var previous = current;
            current = loaded;
            loadedStamps = stamps;
            log.Information("Serving certificate {Subject:l} loaded (expires {NotAfter})", loaded.Subject, loaded.NotAfter);
            previous?.Dispose();
        }
        catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            log.Warning("Could not load the serving certificate ({Error:l}); keeping the previous one", e.Message);
        }
    }
}
