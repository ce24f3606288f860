using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using TorchFerry.TestSupport;
using TorchFerry.TestSupport.Kubernetes;

namespace TorchFerry.Chart.Tests;

/// <summary>
/// What `helm upgrade` does with the chart-generated certificate, rendered by Helm against the API
/// server emulator (`--dry-run=server`, so the chart's `lookup` sees the installed Secret): it keeps
/// the certificate while it is valid for long enough, and renews it near expiry or when the Service's
/// DNS names change, trusting the previous CA alongside the new one for the switch-over.
/// </summary>
public sealed class CertificateRenewalTests : IAsyncLifetime
{
    private const string Namespace = "torchferry-system";
    private readonly KubeApiEmulator api = new();
    private readonly TemporaryDirectory folder = new();
    private readonly HttpClient http = new();

    public Task InitializeAsync()
    {
        // Helm maps every kind it renders through discovery, so the emulator serves them all.
        foreach (var (group, plural, kind, namespaced) in new[]
        {
            (string.Empty, "secrets", "Secret", true), (string.Empty, "serviceaccounts", "ServiceAccount", true),
            (string.Empty, "configmaps", "ConfigMap", true), (string.Empty, "services", "Service", true),
            ("apps", "deployments", "Deployment", true), ("policy", "poddisruptionbudgets", "PodDisruptionBudget", true),
            ("rbac.authorization.k8s.io", "roles", "Role", true), ("rbac.authorization.k8s.io", "rolebindings", "RoleBinding", true),
            ("rbac.authorization.k8s.io", "clusterroles", "ClusterRole", false), ("rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding", false),
            ("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", false),
        })
        {
            api.Register(group, "v1", plural, kind, statusSubresource: false, namespaced);
        }

        File.WriteAllText(folder.File("kubeconfig"), $"""
            apiVersion: v1
            kind: Config
            clusters: [{"{"}name: emulator, cluster: {"{"}server: "{api.Endpoint.ToString().TrimEnd('/')}"{"}"}{"}"}]
            users: [{"{"}name: admin, user: {"{"}token: admin{"}"}{"}"}]
            contexts: [{"{"}name: emulator, context: {"{"}cluster: emulator, user: admin{"}"}{"}"}]
            current-context: emulator
            """);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        http.Dispose();
        await api.DisposeAsync();
        folder.Dispose();
    }

    [Fact]
    public async Task Upgrade_KeepsAValidCertificate()
    {
        var installed = await InstallAsync(Render());

        var upgraded = Render();

        Assert.Equal(Data(installed, "tls.crt"), Data(upgraded.Single("Secret"), "tls.crt"));
        Assert.Equal(Data(installed, "tls.key"), Data(upgraded.Single("Secret"), "tls.key"));
        Assert.Equal(Data(installed, "ca.crt"), upgraded.CaBundlePem);
    }

    [Fact]
    public async Task Upgrade_NearExpiry_IssuesANewCertificate_AndTrustsBothCasMeanwhile()
    {
        var installed = Render();
        installed.Single("Secret")["metadata"]!["annotations"]!["torchferry.io/renew-after"] = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var old = await InstallAsync(installed);

        var upgraded = Render();

        var secret = upgraded.Single("Secret");
        Assert.NotEqual(Data(old, "tls.crt"), Data(secret, "tls.crt"));
        var bundle = CaBundle.Parse(upgraded.CaBundlePem);
        Assert.Equal(2, bundle.Count);
        Assert.Empty(ChainProblems(Data(secret, "tls.crt"), bundle)); // the new certificate, trusted by the new caBundle
        Assert.Empty(ChainProblems(Data(old, "tls.crt"), bundle)); // webhook pods still serving the old one stay trusted meanwhile
        Assert.Equal(Data(secret, "ca.crt"), bundle[0].ExportCertificatePem() + "\n");
    }

    [Fact]
    public async Task Upgrade_WithOtherDnsNames_IssuesANewCertificate()
    {
        var old = await InstallAsync(Render());

        var upgraded = Render("--set", "clusterDomain=cluster.example");

        Assert.NotEqual(Data(old, "tls.crt"), Data(upgraded.Single("Secret"), "tls.crt"));
        using var certificate = X509Certificate2.CreateFromPem(Data(upgraded.Single("Secret"), "tls.crt"));
        Assert.Contains("torchferry-webhook.torchferry-system.svc.cluster.example", certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
    }

    private RenderedChart Render(params string[] values) =>
        Helm.Template("torchferry", Namespace, ["--dry-run=server", "--kubeconfig", folder.File("kubeconfig"), .. values]);

    private async Task<JsonObject> InstallAsync(RenderedChart chart)
    {
        var secret = chart.Single("Secret");

        // As `helm install` leaves it: owned by the release.
        secret["metadata"]!["annotations"]!["meta.helm.sh/release-name"] = chart.Release;
        secret["metadata"]!["annotations"]!["meta.helm.sh/release-namespace"] = chart.Namespace;
        using var created = await http.PostAsync(new Uri(api.Endpoint, $"/api/v1/namespaces/{Namespace}/secrets"), new StringContent(secret.ToJsonString(), Encoding.UTF8, "application/json"));
        created.EnsureSuccessStatusCode();
        return secret;
    }

    private static string Data(JsonNode secret, string key) => RenderedChart.SecretText(secret, key);

    private static IReadOnlyList<string> ChainProblems(string certificatePem, X509Certificate2Collection roots)
    {
        using var certificate = X509Certificate2.CreateFromPem(certificatePem);
        return CaBundle.ChainProblems(roots, certificate);
    }
}
