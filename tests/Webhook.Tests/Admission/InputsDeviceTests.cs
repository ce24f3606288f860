using System.Text;
using System.Text.Json.Nodes;
using k8s.Models;
using Serilog;
using TorchFerry.Contract;
using TorchFerry.Crds;
using TorchFerry.Runtime.Hosting;
using TorchFerry.TestSupport;
using TorchFerry.Webhook.Admission;
using TorchFerry.Webhook.Hosting;
using TorchFerry.Webhook.Mutation;
using TorchFerry.Webhook.Profiles;

namespace TorchFerry.Webhook.Tests.Admission;

/// <summary>
/// The inputs device from a pod's annotation, its DeviceProfile or its namespace's default: a value
/// that is not a device is refused at admission (no init container, counted and logged), never
/// handed to an init container that would fail the task. Patches are applied by kubectl.
/// </summary>
public sealed class InputsDeviceTests
{
    private const string Namespace = "flytesnacks-development";

    [Theory]
    [MemberData(nameof(DeviceNames.Refused), MemberType = typeof(DeviceNames))]
    public async Task Annotation_NotADevice_GetsNoInitContainer_IsCountedAndTheGpuStillComes(string device)
    {
        var pod = AdmissionFixtures.FlytePod();
        pod["metadata"]!["annotations"] = new JsonObject { [Annotations.InputsDevice] = device };
        var handler = Handler(out var registry, profiles: [GpuProfile()]);

        var mutated = Admit(handler, pod);

        Assert.Null(mutated["spec"]!["initContainers"]);
        Assert.Equal(Args(pod), Args(mutated));
        Assert.Null(mutated["metadata"]!["annotations"]![Annotations.TargetDevice]);
        Assert.Equal("injected:gpu", mutated["metadata"]!["annotations"]![Annotations.Status]!.GetValue<string>());
        Assert.Contains("torchferry_admission_refused_values_total{field=\"inputs_device\"} 1", await registry.RenderAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(DeviceNames.Refused), MemberType = typeof(DeviceNames))]
    public void Profile_NotADevice_GetsNoInitContainer(string device)
    {
        // The CRD schema refuses these; a profile from a folder, or written under an older CRD, may not.
        var profile = GpuProfile();
        profile.Spec = profile.Spec with { InputsDevice = device };
        var handler = Handler(out _, profiles: [profile]);

        var mutated = Admit(handler, AdmissionFixtures.FlytePod());

        Assert.Null(mutated["spec"]!["initContainers"]);
    }

    [Fact]
    public void NamespaceDefault_PodWithoutAnnotations_GetsAPatchKubectlApplies()
    {
        var pod = AdmissionFixtures.FlytePod();
        Assert.Null(pod["metadata"]!["annotations"]);
        var handler = Handler(out _, profiles: [], namespaceDefault: TorchDevice.Cpu);

        var mutated = Admit(handler, pod);

        var init = Assert.Single(mutated["spec"]!["initContainers"]!.AsArray())!;
        Assert.Equal("cpu", init["args"]!.AsArray().Select(a => a!.GetValue<string>()).SkipWhile(a => a != "--device").ElementAt(1));
        Assert.Equal("cpu", mutated["metadata"]!["annotations"]![Annotations.TargetDevice]!.GetValue<string>());
        Assert.Null(mutated["metadata"]!["annotations"]![Annotations.InputsDevice]);
    }

    [Fact]
    public void Choice_AnnotationBeatsProfileBeatsNamespaceDefault_AndCudaMeansCudaZero()
    {
        var profile = GpuProfile();
        profile.Spec = profile.Spec with { InputsDevice = "cuda:1" };
        var annotated = AdmissionFixtures.FlytePod();
        annotated["metadata"]!["annotations"] = new JsonObject { [Annotations.InputsDevice] = "cuda" };

        var byAnnotation = Admit(Handler(out _, [profile], TorchDevice.Cpu), annotated);
        var byProfile = Admit(Handler(out _, [profile], TorchDevice.Cpu), AdmissionFixtures.FlytePod());
        var byNamespace = Admit(Handler(out _, [], TorchDevice.Cpu), AdmissionFixtures.FlytePod());

        Assert.Equal("cuda:0", byAnnotation["metadata"]!["annotations"]![Annotations.TargetDevice]!.GetValue<string>());
        Assert.Equal("cuda:1", byProfile["metadata"]!["annotations"]![Annotations.TargetDevice]!.GetValue<string>());
        Assert.Equal("cpu", byNamespace["metadata"]!["annotations"]![Annotations.TargetDevice]!.GetValue<string>());
    }

    [Theory]
    [InlineData("{\"flytesnacks-development\": \"gpu0\"}")]
    [InlineData("{\"flytesnacks-development\": \"mps\"}")]
    [InlineData("{\"flytesnacks-development\": \"cuda:99999\"}")]
    [InlineData("{\"flytesnacks-development\": \"\"}")]
    [InlineData("{\"flytesnacks-development\": \"CUDA:0\"}")]
    [InlineData("[\"cpu\"]")]
    public async Task NamespaceDefaults_NotADevice_TheWebhookDoesNotStart(string json)
    {
        var error = Assert.Throws<ArgumentException>(() => InputsDevices.Parse(json));
        Assert.StartsWith("--inputs-device-namespaces", error.Message, StringComparison.Ordinal);

        // The real command refuses before it listens or reads its certificate files.
        var exitCode = await WebhookCommand.RunAsync(["--prepare-inputs-image", "img", "--profiles-dir", "/nonexistent", "--tls-cert-file", "/nonexistent/tls.crt", "--tls-key-file", "/nonexistent/tls.key", "--listen", "127.0.0.1:0", "--inputs-device-namespaces", json]);
        Assert.Equal(2, exitCode);
    }

    [Theory]
    [InlineData("--prepare-inputs-timeout", "0")]
    [InlineData("--prepare-inputs-timeout", "3601")]
    [InlineData("--prepare-inputs-timeout", "forever")]
    [InlineData("--prepare-inputs-operator-wait", "-1")]
    [InlineData("--prepare-inputs-operator-wait", "3601")]
    [InlineData("--gpu-resource-name", "nvidia gpu")]
    [InlineData("--prepare-inputs-resources", "{\"requests\": {\"cpu\": \"50m\"}, \"limits\": {\"cpu\": \"1\", \"memory\": \"1Gi\"}}")]
    [InlineData("--prepare-inputs-resources", "{\"requests\": {\"cpu\": \"2\", \"memory\": \"64Mi\"}, \"limits\": {\"cpu\": \"1\", \"memory\": \"1Gi\"}}")]
    [InlineData("--prepare-inputs-resources", "{\"requests\": {\"cpu\": \"lots\", \"memory\": \"64Mi\"}, \"limits\": {\"cpu\": \"1\", \"memory\": \"1Gi\"}}")]
    [InlineData("--gpu-device-node-label", "/accelerator")]
    [InlineData("--gpu-tolerations", "{\"key\": \"nvidia.com/gpu\"}")]
    [InlineData("--gpu-tolerations", "[\"nvidia.com/gpu\"]")]
    public async Task PrepareInputsSeconds_OutOfRange_TheWebhookDoesNotStart(string option, string seconds)
    {
        var exitCode = await WebhookCommand.RunAsync(["--prepare-inputs-image", "img", "--profiles-dir", "/nonexistent", "--tls-cert-file", "/nonexistent/tls.crt", "--tls-key-file", "/nonexistent/tls.key", "--listen", "127.0.0.1:0", option, seconds]);

        Assert.Equal(2, exitCode);
    }

    private static AdmissionHandler Handler(out MetricsRegistry registry, IReadOnlyList<DeviceProfile> profiles, TorchDevice? namespaceDefault = null)
    {
        registry = new MetricsRegistry();
        var options = new AdmissionOptions
        {
            Mutation = new MutationOptions("ghcr.io/torchferry/torchferry:test"),
            InputsDeviceByNamespace = namespaceDefault is { } device ? new Dictionary<string, TorchDevice> { [Namespace] = device } : new Dictionary<string, TorchDevice>(),
        };
        return new AdmissionHandler(new FixedProfiles(profiles), options, new AdmissionMetrics(registry), new LoggerConfiguration().CreateLogger());
    }

    // The handler's answer, applied as the API server would (kubectl's own JSON patch code).
    private static JsonObject Admit(AdmissionHandler handler, JsonObject pod)
    {
        var (status, body) = handler.Handle(AdmissionFixtures.Review("uid", pod, Namespace));
        Assert.Equal(200, status);
        var response = body["response"]!;
        Assert.True(response["allowed"]!.GetValue<bool>());
        return response["patch"] is { } patch
            ? Kubectl.PatchLocally(pod, JsonNode.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(patch.GetValue<string>())))!.AsArray())
            : pod;
    }

    private static List<string> Args(JsonObject pod) => pod["spec"]!["containers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();

    private static DeviceProfile GpuProfile() => new()
    {
        Metadata = new V1ObjectMeta { Name = "train", NamespaceProperty = Namespace },
        Spec = new DeviceProfileSpec { Selector = new V1LabelSelector(), Device = new DeviceRequest { Type = DeviceType.Gpu } },
    };

    private sealed class FixedProfiles(IReadOnlyList<DeviceProfile> profiles) : IDeviceProfileSource
    {
        public IReadOnlyList<DeviceProfile> Profiles => profiles;

        public bool Ready => true;
    }
}
