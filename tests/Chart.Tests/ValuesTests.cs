using System.Text.Json.Nodes;
using TorchFerry.TestSupport;

namespace TorchFerry.Chart.Tests;

/// <summary>Object store, URI prefixes and images reach the binaries as the values say; credentials never sit in the chart's own objects.</summary>
public sealed class ValuesTests
{
    [Fact]
    public void Storage_EndpointRegionAndSecretCredentials_ReachTheOperator()
    {
        var chart = Helm.Template("torchferry", "torchferry-system",
            "--set", "storage.endpoint=http://flyte-sandbox-minio.flyte:9000", "--set", "storage.region=us-east-1",
            "--set", "storage.credentials.existingSecret=flyte-minio", "--set", "storage.credentials.accessKeyIdKey=access",
            "--set", "storage.credentials.secretAccessKeyKey=secret", "--set", "storage.serverSideCopy=false");
        var env = Env(chart);

        Assert.Equal("http://flyte-sandbox-minio.flyte:9000", env["AWS_ENDPOINT_URL_S3"]["value"]!.GetValue<string>());
        Assert.Equal("us-east-1", env["AWS_REGION"]["value"]!.GetValue<string>());
        Assert.Equal("false", env["TORCHFERRY_S3_SERVER_SIDE_COPY"]["value"]!.GetValue<string>());
        Assert.Equal(("flyte-minio", "access"), SecretRef(env["AWS_ACCESS_KEY_ID"]));
        Assert.Equal(("flyte-minio", "secret"), SecretRef(env["AWS_SECRET_ACCESS_KEY"]));
    }

    [Fact]
    public void Storage_Irsa_AnnotatesTheServiceAccount_AndSetsNoStaticCredentials()
    {
        var chart = Helm.Template("torchferry", "torchferry-system", "--set", "operator.serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789012:role/torchferry");

        Assert.Equal("arn:aws:iam::123456789012:role/torchferry", chart.Single("ServiceAccount", "torchferry-operator")["metadata"]!["annotations"]!["eks.amazonaws.com/role-arn"]!.GetValue<string>());
        Assert.False(Env(chart).ContainsKey("AWS_ACCESS_KEY_ID"));
    }

    [Fact]
    public void Storage_PlaintextCredentialsInValues_AreRejected()
    {
        var (code, _, error) = Helm.Run("template", "torchferry", Helm.Chart, "--set", "storage.credentials.secretAccessKey=hunter2");

        Assert.NotEqual(0, code);
        Assert.Contains("additional properties 'secretAccessKey' not allowed", error, StringComparison.Ordinal);
    }

    [Fact]
    public void AllowedPrefixes_AreTheOperatorsConfig_AndAChangeRollsItsPods()
    {
        var prefixes = """{"flytesnacks-development":["s3://my-s3-bucket/metadata/","s3://my-s3-bucket/raw/"],"*":["s3://shared-models/"]}""";
        var chart = Helm.Template("torchferry", "torchferry-system", "--set-json", $"allowedPrefixes={prefixes}");
        var other = Helm.Template("torchferry", "torchferry-system", "--set-json", """allowedPrefixes={"flytesnacks-development":["s3://my-s3-bucket/"]}""");

        var file = chart.Arguments("operator")["--allowed-prefixes"];
        var mount = Container(chart)["volumeMounts"]!.AsArray().Single(m => file.StartsWith(m!["mountPath"]!.GetValue<string>() + "/", StringComparison.Ordinal))!;
        var volume = chart.Deployment("operator")["spec"]!["template"]!["spec"]!["volumes"]!.AsArray().Single(v => v!["name"]!.GetValue<string>() == mount["name"]!.GetValue<string>())!;
        var configMap = chart.Single("ConfigMap", volume["configMap"]!["name"]!.GetValue<string>());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(prefixes), JsonNode.Parse(configMap["data"]![Path.GetFileName(file)]!.GetValue<string>())));
        Assert.NotEqual(Checksum(chart), Checksum(other));
    }

    [Fact]
    public void PrepareInputsImage_DefaultsToTheChartsImage_PinnedByDigestWhenGiven()
    {
        var digest = "sha256:" + new string('a', 64);
        var byTag = Helm.Template("torchferry", "torchferry-system", "--set", "image.tag=1.2.3");
        var byDigest = Helm.Template("torchferry", "torchferry-system", "--set", $"image.digest={digest}");
        var separate = Helm.Template("torchferry", "torchferry-system", "--set", "prepareInputs.image=registry.local/torchferry:1.2.3");

        Assert.Equal($"{Helm.TestImageRepository}:1.2.3", byTag.Arguments("webhook")["--prepare-inputs-image"]);
        Assert.Equal($"{Helm.TestImageRepository}:1.2.3", Container(byTag)["image"]!.GetValue<string>());
        Assert.Equal($"{Helm.TestImageRepository}@{digest}", byDigest.Arguments("webhook")["--prepare-inputs-image"]);
        Assert.Equal("registry.local/torchferry:1.2.3", separate.Arguments("webhook")["--prepare-inputs-image"]);
    }

    [Fact]
    public void Image_NotGiven_FailsTheInstallSayingHowToGetOne()
    {
        var (code, _, error) = Helm.Run("template", "torchferry", Helm.Chart, "--set", "image.repository=");

        Assert.NotEqual(0, code);
        Assert.Contains("image.repository is required: no public TorchFerry image is published", error, StringComparison.Ordinal);
    }

    [Fact]
    public void SerializerImage_OldValueName_StillReachesTheWebhookForOneRelease()
    {
        var old = Helm.Template("torchferry", "torchferry-system", "--set", "serializer.image=registry.local/old:1");
        var both = Helm.Template("torchferry", "torchferry-system", "--set", "serializer.image=registry.local/old:1", "--set", "prepareInputs.image=registry.local/new:2");

        Assert.Equal("registry.local/old:1", old.Arguments("webhook")["--prepare-inputs-image"]);
        Assert.Equal("registry.local/new:2", both.Arguments("webhook")["--prepare-inputs-image"]);
    }

    [Fact]
    public void PrepareInputsTimeout_ReachesTheWebhook()
    {
        Assert.Equal("300", Helm.Template("torchferry", "torchferry-system").Arguments("webhook")["--prepare-inputs-timeout"]);
        Assert.Equal("45", Helm.Template("torchferry", "torchferry-system", "--set", "prepareInputs.timeoutSeconds=45").Arguments("webhook")["--prepare-inputs-timeout"]);
        Assert.Equal("10", Helm.Template("torchferry", "torchferry-system").Arguments("webhook")["--prepare-inputs-operator-wait"]);
        Assert.Equal("0", Helm.Template("torchferry", "torchferry-system", "--set", "prepareInputs.operatorWaitSeconds=0").Arguments("webhook")["--prepare-inputs-operator-wait"]);
        Assert.Equal("""{"limits":{"cpu":1,"memory":"256Mi"},"requests":{"cpu":"50m","memory":"64Mi"}}""", Helm.Template("torchferry", "torchferry-system", "--set", "prepareInputs.resources.limits.cpu=1").Arguments("webhook")["--prepare-inputs-resources"]);
    }

    [Fact]
    public void GpuSettings_ReachTheWebhook_WithPropellersDefaults()
    {
        var defaults = Helm.Template("torchferry", "torchferry-system").Arguments("webhook");
        var set = Helm.Template("torchferry", "torchferry-system", "--set", "webhook.gpu.deviceNodeLabel=nvidia.com/gpu.product", "--set-json", "webhook.gpu.tolerations=[]").Arguments("webhook");

        Assert.Equal(("nvidia.com/gpu", "k8s.amazonaws.com/accelerator", "k8s.amazonaws.com/gpu-partition-size"), (defaults["--gpu-resource-name"], defaults["--gpu-device-node-label"], defaults["--gpu-partition-size-node-label"]));
        Assert.Equal("""[{"effect":"NoSchedule","key":"nvidia.com/gpu","operator":"Exists"}]""", defaults["--gpu-tolerations"]);
        Assert.Equal(("nvidia.com/gpu.product", "[]"), (set["--gpu-device-node-label"], set["--gpu-tolerations"]));
    }

    [Fact]
    public void InputsDeviceNamespaces_ReachTheWebhookAsJson()
    {
        var chart = Helm.Template("torchferry", "torchferry-system", "--set", "webhook.inputsDevice.flytesnacks-evaluation=cpu");

        Assert.Equal("""{"flytesnacks-evaluation":"cpu"}""", chart.Arguments("webhook")["--inputs-device-namespaces"]);
        Assert.Equal("torchferry-system", chart.Arguments("webhook")["--namespace"]);
    }

    [Fact]
    public void ServiceMonitors_SelectEachComponentsServiceAndNamedPort()
    {
        var chart = Helm.Template("torchferry", "torchferry-system", "--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.labels.release=prometheus");
        Assert.Empty(Helm.Template("torchferry", "torchferry-system").OfKind("ServiceMonitor"));

        foreach (var monitor in chart.OfKind("ServiceMonitor"))
        {
            Assert.Equal("prometheus", monitor["metadata"]!["labels"]!["release"]!.GetValue<string>());
            var selector = monitor["spec"]!["selector"]!["matchLabels"]!.AsObject();
            var service = chart.OfKind("Service").Single(s => selector.All(l => s["metadata"]!["labels"]![l.Key]?.GetValue<string>() == l.Value!.GetValue<string>()));
            var port = monitor["spec"]!["endpoints"]![0]!["port"]!.GetValue<string>();
            Assert.Contains(service["spec"]!["ports"]!.AsArray(), p => p!["name"]!.GetValue<string>() == port);
        }

        Assert.Equal(2, chart.OfKind("ServiceMonitor").Count());
        var webhook = chart.Single("ServiceMonitor", "torchferry-webhook")["spec"]!["endpoints"]![0]!;
        Assert.Equal("https", webhook["scheme"]!.GetValue<string>());
        Assert.Equal("torchferry-webhook-tls", webhook["tlsConfig"]!["ca"]!["secret"]!["name"]!.GetValue<string>());
    }

    [Fact]
    public void ChartObjects_HoldNoCredentials()
    {
        var chart = Helm.Template("torchferry", "torchferry-system", "--set", "storage.credentials.existingSecret=flyte-minio");

        Assert.DoesNotContain(chart.OfKind("ConfigMap"), c => c.ToJsonString().Contains("AWS_", StringComparison.Ordinal));
        Assert.Equal(["torchferry-webhook-tls"], chart.OfKind("Secret").Select(s => s["metadata"]!["name"]!.GetValue<string>()));
    }

    private static JsonNode Container(RenderedChart chart) => chart.Deployment("operator")["spec"]!["template"]!["spec"]!["containers"]![0]!;

    private static Dictionary<string, JsonNode> Env(RenderedChart chart) =>
        Container(chart)["env"]!.AsArray().ToDictionary(e => e!["name"]!.GetValue<string>(), e => e!);

    private static (string, string) SecretRef(JsonNode env) =>
        (env["valueFrom"]!["secretKeyRef"]!["name"]!.GetValue<string>(), env["valueFrom"]!["secretKeyRef"]!["key"]!.GetValue<string>());

    private static string Checksum(RenderedChart chart) =>
        chart.Deployment("operator")["spec"]!["template"]!["metadata"]!["annotations"]!["checksum/allowed-prefixes"]!.GetValue<string>();
}
