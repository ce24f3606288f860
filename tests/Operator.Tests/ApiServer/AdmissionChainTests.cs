using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using TorchFerry.TestSupport.Kubernetes;

namespace TorchFerry.Operator.Tests.ApiServer;

/// <summary>The emulator's write path fails where a real API server fails: webhook patches, failure policies, TLS trust, quota, CRD schemas, finalizers.</summary>
public sealed class AdmissionChainTests : IAsyncLifetime
{
    private const string Namespace = "flytesnacks-development";
    private readonly KubeApiEmulator api = new();
    private readonly TestWebhook webhook = new();
    private readonly HttpClient http = new();

    public Task InitializeAsync()
    {
        http.BaseAddress = api.Endpoint;
        api.RouteService(webhook.Namespace, webhook.Service, 443, webhook.Endpoint);
        TorchFerryCrds.Install(api);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        http.Dispose();
        await webhook.DisposeAsync();
        await api.DisposeAsync();
    }

    [Fact]
    public async Task PodWithoutAnnotations_PatchAddingUnderAnnotations_Fails500_EvenWithFailurePolicyIgnore()
    {
        // The seam defect: a patch that adds a key under /metadata/annotations to a pod that has none.
        Configure(webhook.Configuration("tf", "Ignore"));
        webhook.Respond = _ => TestWebhook.Patch(new JsonArray(new JsonObject { ["op"] = "add", ["path"] = "/metadata/annotations/torchferry.io~1status", ["value"] = "injected:inputs" }));

        var (code, body) = await CreatePodAsync(Pod("p1"));

        Assert.Equal(500, code);
        Assert.Contains("does not apply", body["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Null(api.Get(string.Empty, "v1", "pods", Namespace, "p1"));
        Assert.StartsWith("failed: ", Assert.Single(api.Admissions).Outcome, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WebhookSeesThePodAsTheApiServerDefaultedIt()
    {
        JsonObject? seen = null;
        Configure(webhook.Configuration("tf", "Fail"));
        webhook.Respond = request =>
        {
            seen = request["object"]!.AsObject();
            return new JsonObject { ["allowed"] = true };
        };

        var (code, _) = await CreatePodAsync(Pod("p2"));

        Assert.Equal(201, code);
        Assert.NotNull(seen);
        Assert.Null(seen["metadata"]!["annotations"]);
        var spec = seen["spec"]!;
        Assert.Equal(("ClusterFirst", "default-scheduler", "default"), (spec["dnsPolicy"]!.GetValue<string>(), spec["schedulerName"]!.GetValue<string>(), spec["serviceAccountName"]!.GetValue<string>()));
        Assert.Contains(spec["volumes"]!.AsArray(), v => v!["name"]!.GetValue<string>().StartsWith("kube-api-access-", StringComparison.Ordinal));
        Assert.Contains(spec["tolerations"]!.AsArray(), t => t!["key"]!.GetValue<string>() == "node.kubernetes.io/not-ready" && t["tolerationSeconds"]!.GetValue<int>() == 300);
        var container = spec["containers"]![0]!;
        Assert.Equal(("IfNotPresent", "/dev/termination-log"), (container["imagePullPolicy"]!.GetValue<string>(), container["terminationMessagePath"]!.GetValue<string>()));
        Assert.Contains(container["volumeMounts"]!.AsArray(), m => m!["mountPath"]!.GetValue<string>() == "/var/run/secrets/kubernetes.io/serviceaccount");
    }

    [Theory]
    [InlineData("Ignore", 201)]
    [InlineData("Fail", 500)]
    public async Task WebhookWithoutEndpoints_FailurePolicyDecides(string policy, int expected)
    {
        Configure(webhook.Configuration("tf", policy));
        api.RouteService(webhook.Namespace, webhook.Service, 443, null);

        var (code, _) = await CreatePodAsync(Pod("p3"));

        Assert.Equal(expected, code);
        Assert.Equal(0, webhook.Calls);
    }

    [Fact]
    public async Task WebhookCertificateNotSignedByTheCaBundle_IsACallFailure()
    {
        await using var other = new TestWebhook("other", "elsewhere");
        var foreignCa = Encoding.ASCII.GetString(Convert.FromBase64String(other.Configuration("x", "Fail")["webhooks"]![0]!["clientConfig"]!["caBundle"]!.GetValue<string>()));
        Configure(webhook.Configuration("tf", "Fail", caBundlePem: foreignCa));

        var (code, body) = await CreatePodAsync(Pod("p4"));

        Assert.Equal(500, code);
        Assert.Contains("failed calling webhook", body["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(0, webhook.Calls);
    }

    [Fact]
    public async Task WebhookRefusal_Is403_WhateverThePolicy()
    {
        Configure(webhook.Configuration("tf", "Ignore"));
        webhook.Respond = _ => new JsonObject { ["allowed"] = false, ["status"] = new JsonObject { ["message"] = "no" } };

        var (code, body) = await CreatePodAsync(Pod("p5"));

        Assert.Equal(403, code);
        Assert.Contains("denied the request: no", body["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ObjectSelector_PodWithoutTheLabels_IsNotSentToTheWebhook()
    {
        Configure(webhook.Configuration("tf", "Fail", objectSelector: new JsonObject { ["matchExpressions"] = new JsonArray(new JsonObject { ["key"] = "execution-id", ["operator"] = "Exists" }) }));
        var pod = Pod("p6");
        pod["metadata"]!.AsObject().Remove("labels");

        var (code, _) = await CreatePodAsync(pod);

        Assert.Equal(201, code);
        Assert.Equal(0, webhook.Calls);
    }

    [Fact]
    public async Task ReinvocationIfNeeded_CalledAgainAfterALaterWebhookChangedThePod()
    {
        await using var later = new TestWebhook("later", "webhooks");
        api.RouteService(later.Namespace, later.Service, 443, later.Endpoint);
        Configure(webhook.Configuration("a-first", "Fail", reinvocationPolicy: "IfNeeded"));
        Configure(later.Configuration("b-second", "Fail"));
        later.Respond = _ => TestWebhook.Patch(new JsonArray(new JsonObject { ["op"] = "add", ["path"] = "/metadata/annotations", ["value"] = new JsonObject { ["later"] = "yes" } }));

        var (code, _) = await CreatePodAsync(Pod("p7"));

        Assert.Equal(201, code);
        Assert.Equal((2, 1), (webhook.Calls, later.Calls));
    }

    [Fact]
    public async Task ComputeQuota_ContainersWithoutLimitsAreRefused_AndUsageIsCounted()
    {
        api.CreateObject(string.Empty, "v1", "resourcequotas", Namespace, JsonNode.Parse("""{"metadata":{"name":"q"},"spec":{"hard":{"limits.cpu":"1","limits.memory":"1Gi"}}}""")!.AsObject());
        var withInit = Pod("q1", cpu: "500m");
        withInit["spec"]!["initContainers"] = new JsonArray(new JsonObject { ["name"] = "init", ["image"] = "busybox:1.36", ["resources"] = new JsonObject { ["limits"] = new JsonObject { ["memory"] = "64Mi" } } });

        var (refused, body) = await CreatePodAsync(withInit);
        Assert.Equal(403, refused);
        Assert.Contains("must specify limits.cpu for: init", body["message"]!.GetValue<string>(), StringComparison.Ordinal);

        Assert.Equal(201, (await CreatePodAsync(Pod("q2", cpu: "600m"))).Code);
        var (exceeded, over) = await CreatePodAsync(Pod("q3", cpu: "600m"));
        Assert.Equal(403, exceeded);
        Assert.Contains("exceeded quota: q", over["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CustomResource_CheckedAgainstTheCrdSchema_PrunedAndDefaulted()
    {
        var invalid = JsonNode.Parse("""{"apiVersion":"torchferry.io/v1alpha1","kind":"DeviceProfile","metadata":{"name":"bad"},"spec":{"selector":{},"device":{"type":"tpu"}}}""")!.AsObject();
        var (code, body) = await PostAsync($"/apis/torchferry.io/v1alpha1/namespaces/{Namespace}/deviceprofiles", invalid);
        Assert.Equal(422, code);
        Assert.Contains("spec.device.type: Unsupported value: \"tpu\"", body["message"]!.GetValue<string>(), StringComparison.Ordinal);

        var valid = JsonNode.Parse("""{"apiVersion":"torchferry.io/v1alpha1","kind":"DeviceProfile","metadata":{"name":"ok"},"spec":{"selector":{},"device":{"type":"gpu"},"notAField":1}}""")!.AsObject();
        var (created, stored) = await PostAsync($"/apis/torchferry.io/v1alpha1/namespaces/{Namespace}/deviceprofiles", valid);
        Assert.Equal(201, created);
        Assert.Null(stored["spec"]!["notAField"]);
        Assert.Equal((0, 1), (stored["spec"]!["priority"]!.GetValue<int>(), stored["spec"]!["device"]!["count"]!.GetValue<int>()));
    }

    [Fact]
    public async Task CustomResource_UpdateWithoutResourceVersion_Is422()
    {
        var (_, created) = await PostAsync($"/apis/torchferry.io/v1alpha1/namespaces/{Namespace}/deviceprofiles", JsonNode.Parse("""{"apiVersion":"torchferry.io/v1alpha1","kind":"DeviceProfile","metadata":{"name":"u"},"spec":{"selector":{},"device":{"type":"cpu"}}}""")!.AsObject());
        created["metadata"]!.AsObject().Remove("resourceVersion");

        using var response = await http.PutAsync(new Uri($"/apis/torchferry.io/v1alpha1/namespaces/{Namespace}/deviceprofiles/u", UriKind.Relative), new StringContent(created.ToJsonString(), Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains("must be specified for an update", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ObjectBeingDeleted_TakesNoNewFinalizer_ButMayLoseOne()
    {
        var (_, created) = await PostAsync($"/apis/torchferry.io/v1alpha1/namespaces/{Namespace}/deviceprofiles", JsonNode.Parse("""{"apiVersion":"torchferry.io/v1alpha1","kind":"DeviceProfile","metadata":{"name":"f","finalizers":["a/one"]},"spec":{"selector":{},"device":{"type":"cpu"}}}""")!.AsObject());
        (await http.DeleteAsync(new Uri($"/apis/torchferry.io/v1alpha1/namespaces/{Namespace}/deviceprofiles/f", UriKind.Relative))).Dispose();

        var (added, body) = await MergePatchAsync("f", """{"metadata":{"finalizers":["a/one","b/two"]}}""");
        Assert.Equal(422, added);
        Assert.Contains("no new finalizers can be added if the object is being deleted", body["message"]!.GetValue<string>(), StringComparison.Ordinal);

        var (removed, _) = await MergePatchAsync("f", """{"metadata":{"finalizers":null}}""");
        Assert.Equal(200, removed);
        Assert.Null(api.Get("torchferry.io", "v1alpha1", "deviceprofiles", Namespace, "f"));
        _ = created;
    }

    [Fact]
    public async Task Watch_WithBookmarks_GetsOnesCarryingTheCurrentResourceVersion()
    {
        api.BookmarkInterval = TimeSpan.FromMilliseconds(200);
        var from = api.ResourceVersion;
        await CreatePodAsync(Pod("unwatched"));
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var stream = await http.GetStreamAsync(new Uri($"/api/v1/namespaces/{Namespace}/pods?watch=true&allowWatchBookmarks=true&labelSelector=no-such-label&resourceVersion={from}", UriKind.Relative), cancel.Token);
        using var reader = new StreamReader(stream);

        var line = JsonNode.Parse((await reader.ReadLineAsync(cancel.Token))!)!;

        Assert.Equal("BOOKMARK", line["type"]!.GetValue<string>());
        Assert.Equal(api.ResourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), line["object"]!["metadata"]!["resourceVersion"]!.GetValue<string>());
    }

    private void Configure(JsonObject configuration) =>
        api.CreateObject("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", null, configuration);

    private static JsonObject Pod(string name, string? cpu = null)
    {
        var container = new JsonObject { ["name"] = name, ["image"] = "cr.flyte.org/flyteorg/flytekit:py3.11-1.16.0", ["args"] = new JsonArray("pyflyte-execute") };
        if (cpu is not null)
        {
            container["resources"] = new JsonObject { ["limits"] = new JsonObject { ["cpu"] = cpu, ["memory"] = "100Mi" } };
        }

        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = new JsonObject { ["name"] = name, ["labels"] = new JsonObject { ["execution-id"] = "e", ["node-id"] = "n0", ["task-name"] = "t" } },
            ["spec"] = new JsonObject { ["restartPolicy"] = "Never", ["containers"] = new JsonArray(container) },
        };
    }

    private Task<(int Code, JsonObject Body)> CreatePodAsync(JsonObject pod) => PostAsync($"/api/v1/namespaces/{Namespace}/pods", pod);

    private async Task<(int Code, JsonObject Body)> PostAsync(string path, JsonObject body)
    {
        using var response = await http.PostAsync(new Uri(path, UriKind.Relative), new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        return ((int)response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    private async Task<(int Code, JsonObject Body)> MergePatchAsync(string name, string patch)
    {
        using var response = await http.PatchAsync(new Uri($"/apis/torchferry.io/v1alpha1/namespaces/{Namespace}/deviceprofiles/{name}", UriKind.Relative), new StringContent(patch, Encoding.UTF8, "application/merge-patch+json"));
        return ((int)response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }
}
