using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace TorchFerry.TestSupport;

/// <summary>Trust as the API server grants it to a webhook: a certificate chains to one of the PEM roots of a caBundle, and nothing else is trusted.</summary>
public static class CaBundle
{
    /// <summary>The certificates of a PEM bundle.</summary>
    public static X509Certificate2Collection Parse(string pem)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(pem);
        return roots;
    }

    /// <summary>Why <paramref name="certificate"/> does not chain to one of <paramref name="roots"/> (no system roots, no revocation check); empty when it does.</summary>
    public static IReadOnlyList<string> ChainProblems(X509Certificate2Collection roots, X509Certificate2 certificate)
    {
        using var chain = new X509Chain { ChainPolicy = { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck } };
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        return chain.Build(certificate) ? [] : [.. chain.ChainStatus.Select(s => s.StatusInformation.Trim()).DefaultIfEmpty("the chain did not build")];
    }

    /// <summary>
    /// A TLS check as the API server makes it for a webhook: a certificate for the name dialled that
    /// chains to one of <paramref name="roots"/>. Why a certificate was refused goes to <paramref name="refused"/>.
    /// </summary>
    public static RemoteCertificateValidationCallback Trusting(X509Certificate2Collection roots, Action<string>? refused = null) => (_, certificate, _, errors) =>
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            refused?.Invoke("no certificate");
            return false;
        }

        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            refused?.Invoke("name mismatch");
            return false;
        }

        using var served = new X509Certificate2(certificate);
        var problems = ChainProblems(roots, served);
        if (problems.Count > 0)
        {
            refused?.Invoke("untrusted chain: " + string.Join("; ", problems));
        }

        return problems.Count == 0;
    };
}
