using System.Text.Json.Nodes;
using TorchFerry.TestSupport;

namespace TorchFerry.Chart.Tests;

/// <summary>The MutatingWebhookConfiguration cannot take a cluster down: safe settings, Flyte pods only, never system namespaces.</summary>
public sealed class WebhookConfigurationTests
{
    [Fact]
    public void Webhook_HasTheSafetySettings()
    {
        var webhook = Webhook(Helm.Template("torchferry", "torchferry-system"));

        Assert.Equal("None", webhook["sideEffects"]!.GetValue<string>());
        Assert.Equal(["v1"], webhook["admissionReviewVersions"]!.AsArray().Select(v => v!.GetValue<string>()));
        Assert.InRange(webhook["timeoutSeconds"]!.GetValue<int>(), 1, 10);
        Assert.Equal("Ignore", webhook["failurePolicy"]!.GetValue<string>());
        Assert.Equal("IfNeeded", webhook["reinvocationPolicy"]!.GetValue<string>());
        var rule = webhook["rules"]!.AsArray().Single()!;
        Assert.Equal(["CREATE"], rule["operations"]!.AsArray().Select(v => v!.GetValue<string>()));
        Assert.Equal(["pods"], rule["resources"]!.AsArray().Select(v => v!.GetValue<string>()));
        Assert.Equal([string.Empty], rule["apiGroups"]!.AsArray().Select(v => v!.GetValue<string>()));
    }

    [Fact]
    public void Webhook_SelectsFlyteTaskPodsOnly()
    {
        var selector = Webhook(Helm.Template("torchferry", "torchferry-system"))["objectSelector"]!;

        var required = selector["matchExpressions"]!.AsArray().Where(e => e!["operator"]!.GetValue<string>() == "Exists").Select(e => e!["key"]!.GetValue<string>());
        Assert.Equal(["execution-id", "node-id", "task-name"], required.Order());
    }

    [Theory]
    [InlineData("torchferry-system")]
    [InlineData("flyte-addons")]
    public void Webhook_NeverMutatesSystemNamespacesOrItsOwn(string releaseNamespace)
    {
        var excluded = NotIn(Webhook(Helm.Template("torchferry", releaseNamespace, "--set", "webhook.excludedNamespaces={flyte}")));

        Assert.Superset(new HashSet<string> { "kube-system", "kube-public", "kube-node-lease", releaseNamespace, "flyte" }, excluded.ToHashSet());
    }

    [Fact]
    public void Webhook_LimitedToFlyteProjectNamespaces_WhenTheValuesListThem()
    {
        var webhook = Webhook(Helm.Template("torchferry", "torchferry-system", "--set", "webhook.namespaces={flytesnacks-development,flytesnacks-production}", "--set-string", "webhook.namespaceLabels.torchferry\\.io/enabled=true"));

        var selector = webhook["namespaceSelector"]!;
        var included = selector["matchExpressions"]!.AsArray().Single(e => e!["operator"]!.GetValue<string>() == "In")!;
        Assert.Equal("kubernetes.io/metadata.name", included["key"]!.GetValue<string>());
        Assert.Equal(["flytesnacks-development", "flytesnacks-production"], included["values"]!.AsArray().Select(v => v!.GetValue<string>()));
        Assert.Contains("kube-system", NotIn(webhook));
        Assert.Equal("true", selector["matchLabels"]!["torchferry.io/enabled"]!.GetValue<string>());
    }

    [Fact]
    public void Webhook_ListingTheReleaseNamespace_IsRefused()
    {
        var (code, _, error) = Helm.Run("template", "torchferry", Helm.Chart, "-n", "torchferry-system", "--set", "webhook.namespaces={flytesnacks-development,torchferry-system}");

        Assert.NotEqual(0, code);
        Assert.Contains("webhook.namespaces must not include the release namespace torchferry-system", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Webhook_CallsTheServiceThatFrontsTheWebhookPods()
    {
        var chart = Helm.Template("torchferry", "torchferry-system");
        var service = Webhook(chart)["clientConfig"]!["service"]!;

        var target = chart.Single("Service", service["name"]!.GetValue<string>());
        Assert.Equal("torchferry-system", target["metadata"]!["namespace"]!.GetValue<string>());
        Assert.Equal(service["namespace"]!.GetValue<string>(), target["metadata"]!["namespace"]!.GetValue<string>());
        Assert.Equal("/mutate-pods", service["path"]!.GetValue<string>());
        var port = target["spec"]!["ports"]!.AsArray().Single(p => p!["port"]!.GetValue<int>() == service["port"]!.GetValue<int>())!;
        var pod = chart.Deployment("webhook")["spec"]!["template"]!;
        Assert.All(target["spec"]!["selector"]!.AsObject(), label => Assert.Equal(label.Value!.GetValue<string>(), pod["metadata"]!["labels"]![label.Key]?.GetValue<string>()));
        var containerPort = pod["spec"]!["containers"]![0]!["ports"]!.AsArray().Single(p => p!["name"]!.GetValue<string>() == port["targetPort"]!.GetValue<string>())!;
        Assert.Equal($"0.0.0.0:{containerPort["containerPort"]}", chart.Arguments("webhook")["--listen"]);
    }

    [Fact]
    public void FailurePolicy_FailAndTimeout_ComeFromTheValues()
    {
        var webhook = Webhook(Helm.Template("torchferry", "torchferry-system", "--set", "webhook.failurePolicy=Fail", "--set", "webhook.timeoutSeconds=3"));

        Assert.Equal(("Fail", 3), (webhook["failurePolicy"]!.GetValue<string>(), webhook["timeoutSeconds"]!.GetValue<int>()));
    }

    private static JsonNode Webhook(RenderedChart chart) => chart.Single("MutatingWebhookConfiguration")["webhooks"]!.AsArray().Single()!;

    private static List<string> NotIn(JsonNode webhook) =>
        webhook["namespaceSelector"]!["matchExpressions"]!.AsArray()
            .Single(e => e!["operator"]!.GetValue<string>() == "NotIn" && e["key"]!.GetValue<string>() == "kubernetes.io/metadata.name")!["values"]!.AsArray()
            .Select(v => v!.GetValue<string>()).ToList();
}
