using TorchFerry.TestSupport;

namespace TorchFerry.Chart.Tests;

/// <summary>Release names, name overrides and namespaces: every object named consistently and every reference resolving.</summary>
public sealed class NamingTests
{
    [Theory]
    [InlineData("torchferry", "torchferry-system", new string[0], "torchferry")]
    [InlineData("prod", "ml-platform", new string[0], "prod-torchferry")]
    [InlineData("prod", "ml-platform", new[] { "--set", "nameOverride=ferry" }, "prod-ferry")]
    [InlineData("prod", "ml-platform", new[] { "--set", "fullnameOverride=tf" }, "tf")]
    public void Objects_AreNamedAfterTheRelease_AndLiveInItsNamespace(string release, string @namespace, string[] values, string prefix)
    {
        var chart = Helm.Template(release, @namespace, values);

        Assert.All(chart.Objects, o => Assert.StartsWith(prefix, o["metadata"]!["name"]!.GetValue<string>(), StringComparison.Ordinal));
        Assert.All(chart.Objects.Where(o => o["metadata"]!["namespace"] is not null), o => Assert.Equal(@namespace, o["metadata"]!["namespace"]!.GetValue<string>()));
        Assert.All(chart.Objects, o => Assert.Equal(release, o["metadata"]!["labels"]!["app.kubernetes.io/instance"]!.GetValue<string>()));
        Assert.Equal($"{prefix}-operator", chart.Arguments("operator")["--lease-name"]);
    }

    [Theory]
    [InlineData("torchferry", "torchferry-system", false)]
    [InlineData("a-release-name-long-enough-to-be-truncated-by-chart", "ml-platform", false)]
    [InlineData("a-release-name-long-enough-to-be-truncated-by-chart", "ml-platform", true)]
    public void References_ResolveToRenderedObjects_AndNamesFitInALabel(string release, string @namespace, bool certManager)
    {
        var chart = Helm.Template(release, @namespace, "--set", $"certificates.certManager.enabled={certManager.ToString().ToLowerInvariant()}");

        foreach (var component in new[] { "operator", "webhook" })
        {
            var pod = chart.Deployment(component)["spec"]!["template"]!["spec"]!;
            chart.Single("ServiceAccount", pod["serviceAccountName"]!.GetValue<string>());
            foreach (var volume in pod["volumes"]!.AsArray())
            {
                if (volume!["configMap"]?["name"] is { } configMap)
                {
                    chart.Single("ConfigMap", configMap.GetValue<string>());
                }
            }
        }

        foreach (var binding in chart.OfKind("RoleBinding").Concat(chart.OfKind("ClusterRoleBinding")))
        {
            chart.Single(binding["roleRef"]!["kind"]!.GetValue<string>(), binding["roleRef"]!["name"]!.GetValue<string>());
            chart.Single("ServiceAccount", binding["subjects"]![0]!["name"]!.GetValue<string>());
        }

        var leaderRole = chart.OfKind("Role").Single(r => r["rules"]!.AsArray().Any(rule => rule!["resources"]![0]!.GetValue<string>() == "leases"));
        Assert.Contains(chart.Arguments("operator")["--lease-name"], leaderRole["rules"]!.AsArray().SelectMany(r => r!["resourceNames"]?.AsArray() ?? []).Select(n => n!.GetValue<string>()));
        Assert.All(chart.Objects, o => Assert.InRange(o["metadata"]!["name"]!.GetValue<string>().Length, 1, 63));
    }

    [Fact]
    public void WatchNamespace_ConfinesTheOperatorsRbacToThatNamespace()
    {
        var chart = Helm.Template("torchferry", "torchferry-system", "--set", "operator.watchNamespace=flytesnacks-development");

        Assert.Equal("flytesnacks-development", chart.Arguments("operator")["--watch-namespace"]);
        Assert.DoesNotContain(chart.OfKind("ClusterRole"), r => r["metadata"]!["name"]!.GetValue<string>() == "torchferry-operator");
        var role = chart.Single("Role", "torchferry-operator");
        Assert.Equal("flytesnacks-development", role["metadata"]!["namespace"]!.GetValue<string>());
        Assert.Equal("flytesnacks-development", chart.Single("RoleBinding", "torchferry-operator")["metadata"]!["namespace"]!.GetValue<string>());
    }

    [Fact]
    public void ExistingServiceAccounts_AreUsedWithoutCreatingAny()
    {
        var chart = Helm.Template("torchferry", "torchferry-system",
            "--set", "operator.serviceAccount.create=false", "--set", "operator.serviceAccount.name=platform-operator",
            "--set", "webhook.serviceAccount.create=false", "--set", "webhook.serviceAccount.name=platform-webhook");

        Assert.Empty(chart.OfKind("ServiceAccount"));
        Assert.Equal("platform-operator", chart.Deployment("operator")["spec"]!["template"]!["spec"]!["serviceAccountName"]!.GetValue<string>());
        Assert.Contains(chart.OfKind("ClusterRoleBinding"), b => b["subjects"]![0]!["name"]!.GetValue<string>() == "platform-webhook");
    }

    [Fact]
    public void NoLeaderElection_WithSeveralReplicas_IsRefused()
    {
        var (code, _, error) = Helm.Run("template", "torchferry", Helm.Chart, "--set", "operator.leaderElection=false");

        Assert.NotEqual(0, code);
        Assert.Contains("operator.leaderElection=false needs operator.replicas=1", error, StringComparison.Ordinal);
    }

    [Fact]
    public void NoLeaderElection_WithOneReplica_DropsTheLeaseAndItsRole()
    {
        var chart = Helm.Template("torchferry", "torchferry-system", "--set", "operator.leaderElection=false", "--set", "operator.replicas=1");

        Assert.True(chart.Arguments("operator").ContainsKey("--no-leader-election"));
        Assert.Empty(chart.OfKind("Role"));
        Assert.DoesNotContain(chart.Objects, o => o.ToJsonString().Contains("coordination.k8s.io", StringComparison.Ordinal));
    }
}
