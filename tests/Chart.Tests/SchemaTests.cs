using TorchFerry.TestSupport;

namespace TorchFerry.Chart.Tests;

/// <summary>values.schema.json stops wrong values before anything reaches the cluster, naming the value.</summary>
public sealed class SchemaTests
{
    [Theory]
    [InlineData("webhook.failurePolicy=Maybe", "/webhook/failurePolicy")]
    [InlineData("webhook.timeoutSeconds=60", "/webhook/timeoutSeconds")]
    [InlineData("operator.replicas=0", "/operator/replicas")]
    [InlineData("operator.replicass=3", "additional properties 'replicass' not allowed")]
    [InlineData("operator.workers=many", "/operator/workers")]
    [InlineData("operator.defaultTtlAfterUnused=7d", "/operator/defaultTtlAfterUnused")]
    [InlineData("variants.prefix=../team-b", "/variants/prefix")]
    [InlineData("variants.prefix=/torchferry", "/variants/prefix")]
    [InlineData("image.pullPolicy=Sometimes", "/image/pullPolicy")]
    [InlineData("image.digest=latest", "/image/digest")]
    [InlineData("storage.endpoint=minio:9000", "/storage/endpoint")]
    [InlineData("storage.partSizeMiB=1", "/storage/partSizeMiB")]
    [InlineData("storage.copyConcurrency=0", "/storage/copyConcurrency")]
    [InlineData("webhook.inputsDevice.flytesnacks-development=gpu0", "/webhook/inputsDevice/flytesnacks-development")]
    [InlineData("webhook.namespaces={Not_A_Namespace}", "/webhook/namespaces/0")]
    [InlineData("prepareInputs.timeoutSeconds=0", "/prepareInputs/timeoutSeconds")]
    [InlineData("prepareInputs.timeoutSeconds=86400", "/prepareInputs/timeoutSeconds")]
    [InlineData("prepareInputs.operatorWaitSeconds=-1", "/prepareInputs/operatorWaitSeconds")]
    [InlineData("webhook.gpu.resourceName=nvidia gpu", "/webhook/gpu/resourceName")]
    [InlineData("prepareInputs.resources.limits.cpu=lots", "/prepareInputs/resources/limits/cpu")]
    [InlineData("podSecurityContext.runAsNonRoot=false", "/podSecurityContext/runAsNonRoot")]
    [InlineData("securityContext.allowPrivilegeEscalation=true", "/securityContext/allowPrivilegeEscalation")]
    [InlineData("securityContext.privileged=true", "/securityContext/privileged")]
    [InlineData("certificates.certManager.issuerRef.kind=Vault", "/certificates/certManager/issuerRef")]
    [InlineData("certificates.certManager.duration=90d", "/certificates/certManager/duration")]
    [InlineData("fullnameOverride=Bad_Name", "/fullnameOverride")]
    public void WrongValue_IsRejectedNamingIt(string value, string expected)
    {
        var (code, _, error) = Helm.Run("template", "torchferry", Helm.Chart, "--set", value);

        Assert.NotEqual(0, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""allowedPrefixes={"flytesnacks-development":["http://example.com/"]}""", "/allowedPrefixes/flytesnacks-development/0")]
    [InlineData("""allowedPrefixes={"flytesnacks-development":"s3://bucket/"}""", "/allowedPrefixes/flytesnacks-development")]
    [InlineData("""allowedPrefixes={"Bad Namespace":["s3://bucket/"]}""", "'Bad Namespace' does not match")]
    public void WrongPrefixes_AreRejectedNamingThem(string value, string expected)
    {
        var (code, _, error) = Helm.Run("template", "torchferry", Helm.Chart, "--set-json", value);

        Assert.NotEqual(0, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void DocumentedExampleValues_AreAccepted()
    {
        var (code, _, error) = Helm.Run("template", "torchferry", Helm.Chart,
            "--set-json", """allowedPrefixes={"flytesnacks-development":["s3://my-s3-bucket/"],"*":["s3://shared/models/"]}""",
            "--set", "storage.endpoint=http://flyte-sandbox-minio.flyte:9000", "--set", "webhook.inputsDevice.flytesnacks-evaluation=cpu",
            "--set", "certificates.certManager.duration=2160h0m0s", "--set", "image.tag=0.1.0-rc.1");

        Assert.True(code == 0, error);
    }
}
