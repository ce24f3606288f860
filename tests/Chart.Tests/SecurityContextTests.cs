using System.Text.Json.Nodes;
using TorchFerry.TestSupport;

namespace TorchFerry.Chart.Tests;

/// <summary>Both Deployments meet the restricted Pod Security Standard and run as a production controller should.</summary>
public sealed class SecurityContextTests
{
    private readonly RenderedChart chart = Helm.Template("torchferry", "torchferry-system");

    public static TheoryData<string> Components => new() { "operator", "webhook" };

    [Theory]
    [MemberData(nameof(Components))]
    public void Pod_RunsAsNonRootWithRuntimeDefaultSeccomp_AndNoHostAccess(string component)
    {
        var pod = chart.Deployment(component)["spec"]!["template"]!["spec"]!;

        Assert.True(pod["securityContext"]!["runAsNonRoot"]!.GetValue<bool>());
        Assert.NotEqual(0, pod["securityContext"]!["runAsUser"]!.GetValue<int>());
        Assert.Equal("RuntimeDefault", pod["securityContext"]!["seccompProfile"]!["type"]!.GetValue<string>());
        Assert.Null(pod["hostNetwork"]);
        Assert.Null(pod["hostPID"]);
        Assert.Null(pod["hostIPC"]);
        Assert.DoesNotContain(pod["volumes"]!.AsArray(), v => v!["hostPath"] is not null);
    }

    [Theory]
    [MemberData(nameof(Components))]
    public void Container_HasAReadOnlyRoot_NoEscalation_NoCapabilities_AWritableTmp(string component)
    {
        var pod = chart.Deployment(component)["spec"]!["template"]!["spec"]!;
        var container = pod["containers"]!.AsArray().Single()!;
        var security = container["securityContext"]!;

        Assert.True(security["readOnlyRootFilesystem"]!.GetValue<bool>());
        Assert.False(security["allowPrivilegeEscalation"]!.GetValue<bool>());
        Assert.Equal(["ALL"], security["capabilities"]!["drop"]!.AsArray().Select(c => c!.GetValue<string>()));
        Assert.Null(security["capabilities"]!["add"]);
        Assert.Null(security["privileged"]);
        var tmp = container["volumeMounts"]!.AsArray().Single(m => m!["mountPath"]!.GetValue<string>() == "/tmp")!;
        Assert.NotNull(pod["volumes"]!.AsArray().Single(v => v!["name"]!.GetValue<string>() == tmp["name"]!.GetValue<string>())!["emptyDir"]);
    }

    [Theory]
    [MemberData(nameof(Components))]
    public void Container_HasProbesOnItsPort_AndMemoryRequestsAndLimits(string component)
    {
        var container = chart.Deployment(component)["spec"]!["template"]!["spec"]!["containers"]![0]!;
        var port = container["ports"]![0]!["name"]!.GetValue<string>();

        Assert.Equal(("/healthz", port), Probe(container["livenessProbe"]!));
        Assert.Equal(("/readyz", port), Probe(container["readinessProbe"]!));
        Assert.NotNull(container["resources"]!["requests"]!["cpu"]);
        Assert.NotNull(container["resources"]!["requests"]!["memory"]);
        Assert.NotNull(container["resources"]!["limits"]!["memory"]);
    }

    [Fact]
    public void Webhook_ProbesSpeakHttps()
    {
        var container = chart.Deployment("webhook")["spec"]!["template"]!["spec"]!["containers"]![0]!;

        Assert.Equal("HTTPS", container["livenessProbe"]!["httpGet"]!["scheme"]!.GetValue<string>());
        Assert.Equal("HTTPS", container["readinessProbe"]!["httpGet"]!["scheme"]!.GetValue<string>());
    }

    [Theory]
    [MemberData(nameof(Components))]
    public void Component_HasTwoReplicas_APodDisruptionBudget_AndSpreadsOverNodes(string component)
    {
        var deployment = chart.Deployment(component);
        var budget = chart.OfKind("PodDisruptionBudget").Single(p => p["metadata"]!["labels"]!["app.kubernetes.io/component"]!.GetValue<string>() == component);

        Assert.Equal(2, deployment["spec"]!["replicas"]!.GetValue<int>());
        Assert.Equal(1, budget["spec"]!["maxUnavailable"]!.GetValue<int>());
        Assert.True(JsonNode.DeepEquals(deployment["spec"]!["selector"]!["matchLabels"], budget["spec"]!["selector"]!["matchLabels"]));
        Assert.Equal("kubernetes.io/hostname", deployment["spec"]!["template"]!["spec"]!["topologySpreadConstraints"]![0]!["topologyKey"]!.GetValue<string>());
    }

    [Fact]
    public void SingleReplica_HasNoPodDisruptionBudget_ThatWouldBlockDrains()
    {
        var single = Helm.Template("torchferry", "torchferry-system", "--set", "operator.replicas=1", "--set", "webhook.replicas=1");

        Assert.Empty(single.OfKind("PodDisruptionBudget"));
    }

    [Fact]
    public void Operator_ElectsALeader_WithItsOwnLease()
    {
        var args = chart.Arguments("operator");

        Assert.Equal("torchferry-operator", args["--lease-name"]);
        Assert.Equal("torchferry-system", args["--lease-namespace"]);
        Assert.False(args.ContainsKey("--no-leader-election"));
    }

    private static (string Path, string Port) Probe(JsonNode probe) =>
        (probe["httpGet"]!["path"]!.GetValue<string>(), probe["httpGet"]!["port"]!.GetValue<string>());
}
