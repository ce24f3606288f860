using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using TorchFerry.TestSupport.Kubernetes.Admission;

namespace TorchFerry.TestSupport.Kubernetes;

/// <summary>
/// An in-process Kubernetes API server for tests, reached over HTTP by the real KubernetesClient.
/// It does what controllers rely on, as the API server does: one resourceVersion counter; LIST with
/// limit/continue; WATCH from a resourceVersion (replaying retained events, 410 Expired past the
/// retained window); 409 on stale updates and duplicate creates; generation bumped on spec changes
/// only; the status subresource; finalizers and deletionTimestamp; merge and JSON patches. Faults
/// (errors, latency, dropped or hanging watches) are injected per request.
/// Writes go through what a real API server does on the way in: pods are defaulted, given their
/// service-account token volume and default tolerations, sent to the mutating webhooks of stored
/// MutatingWebhookConfigurations, validated and checked against ResourceQuotas; custom resources of
/// a created CustomResourceDefinition are pruned, defaulted and validated against its schema; custom
/// resources need a resourceVersion to be updated; objects being deleted take no new finalizers;
/// watches send bookmarks when asked.
/// </summary>
public sealed partial class KubeApiEmulator : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly Lock gate = new();
    private readonly Dictionary<string, ResourceType> types = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SortedDictionary<string, JsonObject>> objects = new(StringComparer.Ordinal);
    private readonly List<(long Version, string Type, string EventType, JsonObject Object)> history = [];
    private TaskCompletionSource changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long resourceVersion = 1000;

    public KubeApiEmulator()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        app = builder.Build();
        app.Run(HandleAsync);
        app.StartAsync().GetAwaiter().GetResult();
        Endpoint = new Uri(app.Urls.First());
        Register(string.Empty, "v1", "pods", "Pod", statusSubresource: true);
        Register(string.Empty, "v1", "events", "Event", statusSubresource: false);
        Register("coordination.k8s.io", "v1", "leases", "Lease", statusSubresource: false);
        Register("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", statusSubresource: true, namespaced: false);
        Register(string.Empty, "v1", "namespaces", "Namespace", statusSubresource: true, namespaced: false);
        Register(string.Empty, "v1", "resourcequotas", "ResourceQuota", statusSubresource: true);
        Register("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", statusSubresource: false, namespaced: false);
        webhooks = new MutatingWebhookDispatcher(ResolveService, r =>
        {
            lock (admissions)
            {
                admissions.Add(r);
            }
        });
    }

    private readonly MutatingWebhookDispatcher webhooks;
    private readonly Dictionary<string, Uri> services = new(StringComparer.Ordinal);
    private readonly List<AdmissionRecord> admissions = [];

    /// <summary>Every mutating webhook call so far, in order.</summary>
    public IReadOnlyList<AdmissionRecord> Admissions
    {
        get
        {
            lock (admissions)
            {
                return [.. admissions];
            }
        }
    }

    /// <summary>How often a watch that asked for bookmarks gets one (a real server sends one about every minute).</summary>
    public TimeSpan BookmarkInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Where the Service <paramref name="name"/> in <paramref name="namespace"/> on <paramref name="port"/>
    /// is served (its endpoints), for webhook calls; null removes it (no endpoints: the call fails).
    /// </summary>
    public void RouteService(string @namespace, string name, int port, Uri? target)
    {
        lock (services)
        {
            if (target is null)
            {
                services.Remove($"{@namespace}/{name}:{port}");
            }
            else
            {
                services[$"{@namespace}/{name}:{port}"] = target;
            }
        }
    }

    private Uri? ResolveService(string @namespace, string name, int port)
    {
        lock (services)
        {
            return services.TryGetValue($"{@namespace}/{name}:{port}", out var target) ? target : null;
        }
    }

    public Uri Endpoint { get; }

    /// <summary>Events kept for watches; a watch from an older resourceVersion gets 410 Expired.</summary>
    public int HistoryLimit { get; set; } = 10_000;

    /// <summary>Decides per request whether to misbehave.</summary>
    public Func<HttpRequest, EmulatorFault?>? Fault { get; set; }

    private readonly List<string> requests = [];

    /// <summary>A snapshot of the requests seen, as "METHOD path?query" (safe while requests keep arriving).</summary>
    public IReadOnlyList<string> Requests
    {
        get
        {
            lock (requests)
            {
                return [.. requests];
            }
        }
    }

    private readonly List<ApiCall> calls = [];

    /// <summary>A snapshot of the resource requests seen, as RBAC would authorize them (the user is the bearer token, if any).</summary>
    public IReadOnlyList<ApiCall> Calls
    {
        get
        {
            lock (calls)
            {
                return [.. calls];
            }
        }
    }

    /// <summary>The current resourceVersion.</summary>
    public long ResourceVersion
    {
        get
        {
            lock (gate)
            {
                return resourceVersion;
            }
        }
    }

    /// <summary>Serves a (namespaced) resource type.</summary>
    public void Register(string group, string version, string plural, string kind, bool statusSubresource, bool namespaced = true) =>
        Register(group, version, plural, kind, statusSubresource, namespaced, schema: null);

    private void Register(string group, string version, string plural, string kind, bool statusSubresource, bool namespaced, StructuralSchema? schema)
    {
        lock (gate)
        {
            types[Key(group, version, plural)] = new ResourceType(group, version, plural, kind, statusSubresource, namespaced, schema);
            objects.TryAdd(Key(group, version, plural), new SortedDictionary<string, JsonObject>(StringComparer.Ordinal));
        }
    }

    /// <summary>Creates a (non-pod) object as a POST would, with the same checks; a refusal throws with the Status message.</summary>
    public JsonObject CreateObject(string group, string version, string plural, string? @namespace, JsonObject obj)
    {
        ResourceType type;
        lock (gate)
        {
            type = types[Key(group, version, plural)];
        }

        try
        {
            return Create(type, @namespace!, obj);
        }
        catch (ApiError e)
        {
            throw new InvalidOperationException($"{e.Code} {e.Reason}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Stores an object as an older version of its CRD accepted it: without today's schema checks (the
    /// API server does not revalidate what is stored; later writes are checked, tolerating what was
    /// already invalid, as CRD validation ratcheting does).
    /// </summary>
    public JsonObject StoreAsOlderSchemaAccepted(string group, string version, string plural, string @namespace, JsonObject obj)
    {
        lock (gate)
        {
            var type = types[Key(group, version, plural)];
            return Create(type with { Schema = null }, @namespace, obj);
        }
    }

    /// <summary>A copy of an object, or null.</summary>
    public JsonObject? Get(string group, string version, string plural, string @namespace, string name)
    {
        lock (gate)
        {
            return objects[Key(group, version, plural)].TryGetValue($"{@namespace}/{name}", out var found) ? (JsonObject)found.DeepClone() : null;
        }
    }

    /// <summary>How many stored objects of a type satisfy <paramref name="predicate"/> (no copies: for benchmarks that poll thousands).</summary>
    public int Count(string group, string version, string plural, Func<JsonObject, bool> predicate)
    {
        lock (gate)
        {
            return objects[Key(group, version, plural)].Values.Count(predicate);
        }
    }

    /// <summary>Drops all but the newest <paramref name="keep"/> events, as etcd compaction does.</summary>
    public void Compact(int keep = 0)
    {
        lock (gate)
        {
            if (history.Count > keep)
            {
                history.RemoveRange(0, history.Count - keep);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        lock (gate)
        {
            changed.TrySetResult();
        }

        await app.StopAsync();
        await app.DisposeAsync();
    }

    private static string Key(string group, string version, string plural) => $"{group}/{version}/{plural}";

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        lock (requests)
        {
            requests.Add($"{request.Method} {request.Path}{request.QueryString}");
        }

        var fault = Fault?.Invoke(request);
        if (fault?.Delay is { } delay)
        {
            await Task.Delay(delay, context.RequestAborted);
        }

        if (fault?.Status is { } status)
        {
            var reason = status switch { 429 => "TooManyRequests", 410 => "Expired", _ => "InternalError" };
            await StatusAsync(context, status, reason, status == 410 ? "too old resource version (injected by the emulator)" : "injected by the emulator");
            return;
        }

        if (request.Method == "GET" && request.Path.Value?.TrimEnd('/') == "/openapi/v2")
        {
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
            await context.Response.Body.WriteAsync(OpenApiV2());
            return;
        }

        if (request.Method == "GET" && Discovery(request.Path.Value ?? string.Empty) is { } document)
        {
            await WriteAsync(context, 200, document);
            return;
        }

        if (!Route(request.Path.Value ?? string.Empty, out var type, out var @namespace, out var name, out var subresource))
        {
            await StatusAsync(context, 404, "NotFound", $"the server could not find the requested resource ({request.Path})");
            return;
        }

        var token = request.Headers.Authorization.ToString() is { } authorization && authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization["Bearer ".Length..] : null;
        lock (calls)
        {
            calls.Add(new ApiCall(
                token,
                ApiCall.VerbOf(request.Method, name is not null, request.Query["watch"] is ["true" or "1"]),
                type.Group,
                subresource is null ? type.Plural : $"{type.Plural}/{subresource}",
                @namespace,
                name));
        }

        try
        {
            switch (request.Method)
            {
                case "GET" when name is null && request.Query["watch"] is ["true" or "1"]:
                    await WatchAsync(context, type, @namespace, fault);
                    break;
                case "GET" when name is null:
                    await ListAsync(context, type, @namespace);
                    break;
                case "GET":
                    await WriteAsync(context, 200, Find(type, @namespace!, name) ?? throw NotFound(type, name));
                    break;
                case "POST" when name is null:
                    var body = await ReadAsync(request);
                    if (type.Plural == "pods" && type.Group.Length == 0)
                    {
                        body = await AdmitPodAsync(body, @namespace!, context.RequestAborted);
                    }

                    await WriteAsync(context, 201, Create(type, @namespace!, body));
                    break;
                case "PUT" when name is not null:
                    await WriteAsync(context, 200, Update(type, @namespace!, name, await ReadAsync(request), subresource == "status"));
                    break;
                case "PATCH" when name is not null:
                    await WriteAsync(context, 200, Patch(type, @namespace!, name, request.ContentType ?? string.Empty, JsonNode.Parse(await new StreamReader(request.Body).ReadToEndAsync())!, subresource == "status"));
                    break;
                case "DELETE" when name is not null:
                    await WriteAsync(context, 200, Delete(type, @namespace!, name));
                    break;
                default:
                    await StatusAsync(context, 405, "MethodNotAllowed", $"{request.Method} is not allowed here");
                    break;
            }
        }
        catch (ApiError e)
        {
            await StatusAsync(context, e.Code, e.Reason, e.Message);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            // The emulator's own limits show up as a Status the test can read, not as a bare 500.
            await StatusAsync(context, 500, "InternalError", $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>
    /// Discovery (/api, /apis, /api/v1, /apis/GROUP/VERSION) and a minimal OpenAPI v3 so kubectl can
    /// map kinds to resources and run its client-side checks against the emulator.
    /// </summary>
    private JsonObject? Discovery(string path)
    {
        List<ResourceType> all;
        lock (gate)
        {
            all = [.. types.Values];
        }

        var trimmed = path.TrimEnd('/');
        if (trimmed == "/version")
        {
            return new JsonObject { ["major"] = "1", ["minor"] = "32", ["gitVersion"] = "v1.32.0", ["platform"] = "linux/amd64" };
        }

        if (trimmed == "/api")
        {
            return new JsonObject { ["kind"] = "APIVersions", ["versions"] = new JsonArray("v1"), ["serverAddressByClientCIDRs"] = new JsonArray() };
        }

        if (trimmed == "/apis")
        {
            var groups = all.Where(t => t.Group.Length > 0).GroupBy(t => t.Group).Select(g => (JsonNode?)new JsonObject
            {
                ["name"] = g.Key,
                ["versions"] = new JsonArray(g.Select(t => t.Version).Distinct().Select(v => (JsonNode?)new JsonObject { ["groupVersion"] = $"{g.Key}/{v}", ["version"] = v }).ToArray()),
                ["preferredVersion"] = new JsonObject { ["groupVersion"] = $"{g.Key}/{g.First().Version}", ["version"] = g.First().Version },
            }).ToArray();
            return new JsonObject { ["kind"] = "APIGroupList", ["apiVersion"] = "v1", ["groups"] = new JsonArray(groups) };
        }

        var parts = trimmed.Trim('/').Split('/');
        var (group, version) = parts switch
        {
            ["api", var v] => (string.Empty, v),
            ["apis", var g, var v] => (g, v),
            _ => (null, null),
        };
        if (group is not null)
        {
            var resources = all.Where(t => t.Group == group && t.Version == version).SelectMany(t => new[]
            {
                (JsonNode?)new JsonObject
                {
                    ["name"] = t.Plural,
                    ["singularName"] = t.Kind.ToLowerInvariant(),
                    ["namespaced"] = t.Namespaced,
                    ["kind"] = t.Kind,
                    ["verbs"] = new JsonArray("create", "delete", "get", "list", "patch", "update", "watch"),
                },
            }).ToArray();
            return resources.Length == 0 ? null : new JsonObject { ["kind"] = "APIResourceList", ["apiVersion"] = "v1", ["groupVersion"] = group.Length == 0 ? version : $"{group}/{version}", ["resources"] = new JsonArray(resources) };
        }

        if (trimmed == "/openapi/v3")
        {
            var paths = new JsonObject();
            foreach (var gv in all.Select(t => t.Group.Length == 0 ? $"api/{t.Version}" : $"apis/{t.Group}/{t.Version}").Distinct())
            {
                paths[gv] = new JsonObject { ["serverRelativeURL"] = $"/openapi/v3/{gv}?hash=1" };
            }

            return new JsonObject { ["paths"] = paths };
        }

        if (trimmed.StartsWith("/openapi/v3/", StringComparison.Ordinal))
        {
            var gvParts = trimmed["/openapi/v3/".Length..].Split('/');
            var (g, v) = gvParts is ["api", var cv] ? (string.Empty, cv) : gvParts is ["apis", var ag, var av] ? (ag, av) : (null!, null!);
            var schemas = new JsonObject();
            foreach (var t in all.Where(t => t.Group == g && t.Version == v))
            {
                // Permissive schemas: kubectl gets the kinds; the real validation of CRDs is the generator's.
                schemas[$"emulator.{t.Group}.{t.Version}.{t.Kind}"] = new JsonObject
                {
                    ["type"] = "object",
                    ["x-kubernetes-preserve-unknown-fields"] = true,
                    ["x-kubernetes-group-version-kind"] = new JsonArray(new JsonObject { ["group"] = t.Group, ["version"] = t.Version, ["kind"] = t.Kind }),
                };
            }

            return new JsonObject { ["openapi"] = "3.0.0", ["info"] = new JsonObject { ["title"] = "Kubernetes", ["version"] = "emulator" }, ["paths"] = new JsonObject(), ["components"] = new JsonObject { ["schemas"] = schemas } };
        }

        return null;
    }

    /// <summary>
    /// An OpenAPI v2 document (protobuf, as kubectl asks for it) naming every served kind, each with a
    /// permissive schema: kubectl can map and check the kinds; real schema validation is not the
    /// emulator's job.
    /// </summary>
    private byte[] OpenApiV2()
    {
        List<ResourceType> all;
        lock (gate)
        {
            all = [.. types.Values];
        }

        var definitions = new OpenApiV2.Definitions();
        foreach (var t in all)
        {
            var schema = new OpenApiV2.Schema
            {
                Description = $"{t.Kind} (served by the emulator)",
                Type = new OpenApiV2.TypeItem { Value = { "object" } },
                AdditionalProperties = new OpenApiV2.AdditionalPropertiesItem { Schema = new OpenApiV2.Schema() },
            };
            schema.VendorExtension.Add(new OpenApiV2.NamedAny
            {
                Name = "x-kubernetes-group-version-kind",
                Value = new OpenApiV2.Any { Yaml = $"- group: \"{t.Group}\"\n  kind: {t.Kind}\n  version: {t.Version}\n" },
            });
            definitions.AdditionalProperties.Add(new OpenApiV2.NamedSchema { Name = $"emulator.{(t.Group.Length == 0 ? "core" : t.Group)}.{t.Version}.{t.Kind}", Value = schema });
        }

        var document = new OpenApiV2.Document { Swagger = "2.0", Info = new OpenApiV2.Info { Title = "Kubernetes", Version = "v1.32.0" }, Paths = new OpenApiV2.Paths(), Definitions = definitions };
        return Google.Protobuf.MessageExtensions.ToByteArray(document);
    }

    private bool Route(string path, out ResourceType type, out string? @namespace, out string? name, out string? subresource)
    {
        type = null!;
        @namespace = name = subresource = null;
        var parts = path.Trim('/').Split('/');
        string group, version;
        int at;
        if (parts is ["api", var v, ..])
        {
            (group, version, at) = (string.Empty, v, 2);
        }
        else if (parts is ["apis", var g, var v2, ..])
        {
            (group, version, at) = (g, v2, 3);
        }
        else
        {
            return false;
        }

        if (parts.Length > at + 1 && parts[at] == "namespaces")
        {
            @namespace = parts[at + 1];
            at += 2;
        }

        if (parts.Length <= at)
        {
            return false;
        }

        lock (gate)
        {
            if (!types.TryGetValue(Key(group, version, parts[at]), out var found))
            {
                return false;
            }

            type = found;
        }

        name = parts.Length > at + 1 ? parts[at + 1] : null;
        subresource = parts.Length > at + 2 ? parts[at + 2] : null;
        return true;
    }

    private async Task ListAsync(HttpContext context, ResourceType type, string? @namespace)
    {
        var query = context.Request.Query;
        var limit = int.TryParse(query["limit"], out var l) && l > 0 ? l : int.MaxValue;
        var skip = int.TryParse(query["continue"], out var c) ? c : 0;
        var selector = Selector(query["labelSelector"]);
        JsonObject list;
        lock (gate)
        {
            var items = objects[Key(type.Group, type.Version, type.Plural)].Values
                .Where(o => @namespace is null || o["metadata"]!["namespace"]!.GetValue<string>() == @namespace)
                .Where(selector)
                .ToList();
            var page = items.Skip(skip).Take(limit).Select(o => (JsonNode?)o.DeepClone()).ToArray();
            var metadata = new JsonObject { ["resourceVersion"] = resourceVersion.ToString(CultureInfo.InvariantCulture) };
            if (skip + page.Length < items.Count)
            {
                metadata["continue"] = (skip + page.Length).ToString(CultureInfo.InvariantCulture);
            }

            list = new JsonObject
            {
                ["apiVersion"] = type.ApiVersion,
                ["kind"] = type.Kind + "List",
                ["metadata"] = metadata,
                ["items"] = new JsonArray(page),
            };
        }

        await WriteAsync(context, 200, list);
    }

    private async Task WatchAsync(HttpContext context, ResourceType type, string? @namespace, EmulatorFault? fault)
    {
        var response = context.Response;
        response.StatusCode = 200;
        response.ContentType = "application/json";
        var timeout = fault?.EndWatchAfter ?? (int.TryParse(context.Request.Query["timeoutSeconds"], out var seconds) ? TimeSpan.FromSeconds(seconds) : TimeSpan.FromMinutes(30));
        using var timedOut = new CancellationTokenSource(timeout);
        using var ending = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, timedOut.Token);
        if (fault?.HangWatch == true)
        {
            await response.Body.FlushAsync(context.RequestAborted);
            try
            {
                await Task.Delay(Timeout.Infinite, ending.Token);
            }
            catch (OperationCanceledException)
            {
            }

            return;
        }

        var selector = Selector(context.Request.Query["labelSelector"]);
        var typeKey = Key(type.Group, type.Version, type.Plural);
        long from;
        var pending = new List<(string EventType, JsonObject Object, long Version)>();
        lock (gate)
        {
            var requested = context.Request.Query["resourceVersion"].ToString();
            if (string.IsNullOrEmpty(requested) || requested == "0")
            {
                // "Start at most recent": the current objects as ADDED, then changes.
                from = resourceVersion;
                pending.AddRange(objects[typeKey].Values.Select(o => ("ADDED", (JsonObject)o.DeepClone(), resourceVersion)));
            }
            else
            {
                from = long.Parse(requested, CultureInfo.InvariantCulture);
                var oldest = history.Count > 0 ? history[0].Version : resourceVersion + 1;
                if (from < oldest - 1 && from < resourceVersion)
                {
                    pending.Add(("ERROR", Status(410, "Expired", $"too old resource version: {from} ({oldest - 1})"), 0));
                    from = long.MaxValue;
                }
            }
        }

        var sent = 0;
        var bookmarks = context.Request.Query["allowWatchBookmarks"] is ["true" or "1"];
        var bookmarked = 0L;
        var nextBookmark = DateTime.UtcNow + BookmarkInterval;
        while (true)
        {
            Task wake;
            lock (gate)
            {
                if (from != long.MaxValue)
                {
                    // History is in version order: start after the last version sent, not at the oldest
                    // (a scan per change per watch would make a busy server quadratic).
                    for (var i = FirstAfter(from); i < history.Count; i++)
                    {
                        var e = history[i];
                        if (e.Type == typeKey)
                        {
                            pending.Add((e.EventType, (JsonObject)e.Object.DeepClone(), e.Version));
                        }
                    }

                    from = Math.Max(from, resourceVersion);
                }

                wake = changed.Task;
            }

            foreach (var (eventType, obj, _) in pending)
            {
                if (eventType != "ERROR" && ((@namespace is not null && obj["metadata"]!["namespace"]!.GetValue<string>() != @namespace) || !selector(obj)))
                {
                    continue;
                }

                if (fault?.DropWatchAfter is { } limit && sent >= limit)
                {
                    return; // the connection just ends, as a dropped watch does
                }

                var line = new JsonObject { ["type"] = eventType, ["object"] = obj }.ToJsonString() + "\n";
                await response.Body.WriteAsync(Encoding.UTF8.GetBytes(line), context.RequestAborted);
                await response.Body.FlushAsync(context.RequestAborted);
                sent++;
                if (eventType == "ERROR")
                {
                    return;
                }
            }

            pending.Clear();

            // Bookmarks come on a timer whatever the traffic (a busy server sends them too) and as the
            // last line when the server ends the watch, carrying the version everything before was sent
            // for, so a filtered watch resumes from there instead of from its last matching object.
            if (bookmarks && from != long.MaxValue && from > bookmarked && (timedOut.IsCancellationRequested || DateTime.UtcNow >= nextBookmark))
            {
                await WriteBookmarkAsync(context, type, from);
                bookmarked = from;
                nextBookmark = DateTime.UtcNow + BookmarkInterval;
            }

            if (ending.IsCancellationRequested)
            {
                return;
            }

            try
            {
                var untilBookmark = nextBookmark - DateTime.UtcNow;
                await wake.WaitAsync(bookmarks ? (untilBookmark > TimeSpan.Zero ? untilBookmark : TimeSpan.Zero) : Timeout.InfiniteTimeSpan, ending.Token);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
            {
                // Timed out: one more round sends what is left and the last bookmark.
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static async Task WriteBookmarkAsync(HttpContext context, ResourceType type, long version)
    {
        var bookmark = new JsonObject { ["apiVersion"] = type.ApiVersion, ["kind"] = type.Kind, ["metadata"] = new JsonObject { ["resourceVersion"] = version.ToString(CultureInfo.InvariantCulture) } };
        var line = new JsonObject { ["type"] = "BOOKMARK", ["object"] = bookmark }.ToJsonString() + "\n";
        await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(line), context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    private JsonObject? Find(ResourceType type, string @namespace, string name)
    {
        lock (gate)
        {
            return objects[Key(type.Group, type.Version, type.Plural)].TryGetValue($"{@namespace}/{name}", out var found) ? (JsonObject)found.DeepClone() : null;
        }
    }

    private JsonObject Create(ResourceType type, string @namespace, JsonObject body)
    {
        lock (gate)
        {
            var metadata = body["metadata"] as JsonObject ?? new JsonObject();
            var name = metadata["name"]?.GetValue<string>();
            if (string.IsNullOrEmpty(name) && metadata["generateName"]?.GetValue<string>() is { } prefix)
            {
                name = prefix + Guid.NewGuid().ToString("N")[..5];
            }

            if (string.IsNullOrEmpty(name))
            {
                throw new ApiError(422, "Invalid", "metadata.name: Required value");
            }

            var store = objects[Key(type.Group, type.Version, type.Plural)];
            if (store.ContainsKey($"{@namespace}/{name}"))
            {
                throw new ApiError(409, "AlreadyExists", $"{type.Plural} \"{name}\" already exists");
            }

            var created = (JsonObject)body.DeepClone();
            if (type.StatusSubresource)
            {
                created.Remove("status");
            }

            if (type.Plural == "pods" && type.Group.Length == 0)
            {
                QuotaAdmission.Admit(created, InNamespace("resourcequotas", @namespace), InNamespace("pods", @namespace));
            }

            Validate(type, name, created);

            var meta = (JsonObject)metadata.DeepClone();
            meta["name"] = name;
            meta["namespace"] = @namespace;
            meta["uid"] = Guid.NewGuid().ToString();
            meta["creationTimestamp"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
            meta["generation"] = 1L;
            meta.Remove("deletionTimestamp");
            created["metadata"] = meta;
            created["apiVersion"] = type.ApiVersion;
            created["kind"] = type.Kind;
            if (type.Plural == "namespaces" && type.Group.Length == 0)
            {
                // The API server labels every namespace with its name (namespaceSelectors rely on it).
                var labels = meta["labels"] as JsonObject ?? [];
                labels["kubernetes.io/metadata.name"] = name;
                meta["labels"] = labels;
            }

            if (type.Plural == "customresourcedefinitions")
            {
                Serve(created);
            }

            Commit(type, $"{@namespace}/{name}", created, "ADDED");
            var answer = (JsonObject)created.DeepClone();
            CollectIfOwnersAbsent(type, @namespace, name, created);
            return answer;
        }
    }

    private JsonObject Update(ResourceType type, string @namespace, string name, JsonObject body, bool status)
    {
        lock (gate)
        {
            var current = Find(type, @namespace, name) ?? throw NotFound(type, name);
            var sentVersion = body["metadata"]?["resourceVersion"]?.GetValue<string>();
            if (type.Custom && string.IsNullOrEmpty(sentVersion))
            {
                throw new ApiError(422, "Invalid", $"{type.Kind}.{type.Group} \"{name}\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update");
            }
            if (!string.IsNullOrEmpty(sentVersion) && sentVersion != current["metadata"]!["resourceVersion"]!.GetValue<string>())
            {
                throw new ApiError(409, "Conflict", $"Operation cannot be fulfilled on {type.Plural} \"{name}\": the object has been modified; please apply your changes to the latest version and try again");
            }

            return Replace(type, @namespace, name, current, body, status);
        }
    }

    private JsonObject Patch(ResourceType type, string @namespace, string name, string contentType, JsonNode patch, bool status)
    {
        lock (gate)
        {
            var current = Find(type, @namespace, name) ?? throw NotFound(type, name);
            JsonNode patched;
            try
            {
                patched = contentType.StartsWith("application/json-patch+json", StringComparison.Ordinal)
                    ? JsonPatch.Apply(current, patch.AsArray())
                    : JsonPatch.Merge(current, patch)!;
            }
            catch (InvalidOperationException e)
            {
                throw new ApiError(422, "Invalid", e.Message);
            }

            var sentVersion = patch is JsonObject o ? o["metadata"]?["resourceVersion"]?.GetValue<string>() : null;
            if (!string.IsNullOrEmpty(sentVersion) && sentVersion != current["metadata"]!["resourceVersion"]!.GetValue<string>())
            {
                throw new ApiError(409, "Conflict", $"Operation cannot be fulfilled on {type.Plural} \"{name}\": the object has been modified");
            }

            return Replace(type, @namespace, name, current, patched.AsObject(), status);
        }
    }

    private JsonObject Replace(ResourceType type, string @namespace, string name, JsonObject current, JsonObject body, bool status)
    {
        var next = (JsonObject)current.DeepClone();
        if (status)
        {
            next["status"] = body["status"]?.DeepClone();
        }
        else
        {
            foreach (var (field, value) in body)
            {
                if (field is not ("metadata" or "status" or "apiVersion" or "kind"))
                {
                    next[field] = value?.DeepClone();
                }
            }

            foreach (var field in current.Select(kv => kv.Key).Where(k => k is not ("metadata" or "status" or "apiVersion" or "kind") && !body.ContainsKey(k)).ToList())
            {
                next.Remove(field);
            }

            if (!type.StatusSubresource)
            {
                next["status"] = body["status"]?.DeepClone();
            }

            var meta = (JsonObject)current["metadata"]!.DeepClone();
            foreach (var field in new[] { "labels", "annotations", "finalizers", "ownerReferences" })
            {
                var value = body["metadata"]?[field]?.DeepClone();
                if (value is null)
                {
                    meta.Remove(field);
                }
                else
                {
                    meta[field] = value;
                }
            }

            next["metadata"] = meta;
            if (!JsonNode.DeepEquals(Spec(current), Spec(next)))
            {
                meta["generation"] = long.Parse(meta["generation"]!.ToJsonString(), CultureInfo.InvariantCulture) + 1;
            }
        }

        if (current["metadata"]!["deletionTimestamp"] is not null)
        {
            var before = Finalizers(current);
            var added = Finalizers(next).Where(f => !before.Contains(f)).ToList();
            if (added.Count > 0)
            {
                throw new ApiError(422, "Invalid", $"{type.Kind} \"{name}\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{\"{string.Join("\", \"", added)}\"}}");
            }
        }

        Validate(type, name, next, current);
        if (JsonNode.DeepEquals(next, current))
        {
            return current; // a no-op write keeps its resourceVersion
        }

        var key = $"{@namespace}/{name}";
        if (next["metadata"]!["deletionTimestamp"] is not null && next["metadata"]!["finalizers"] is not JsonArray { Count: > 0 })
        {
            Commit(type, key, next, "DELETED", remove: true);
        }
        else
        {
            Commit(type, key, next, "MODIFIED");
        }

        return (JsonObject)next.DeepClone();
    }

    private JsonObject Delete(ResourceType type, string @namespace, string name)
    {
        lock (gate)
        {
            var current = Find(type, @namespace, name) ?? throw NotFound(type, name);
            var key = $"{@namespace}/{name}";
            if (current["metadata"]!["finalizers"] is JsonArray { Count: > 0 })
            {
                if (current["metadata"]!["deletionTimestamp"] is null)
                {
                    current["metadata"]!["deletionTimestamp"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
                    Commit(type, key, current, "MODIFIED");
                }

                return current;
            }

            Commit(type, key, current, "DELETED", remove: true);
            return current;
        }
    }

    /// <summary>Defaulting, mutating admission (built-in plugins, then webhooks), defaulting again and validation, as a pod CREATE goes through them.</summary>
    private async Task<JsonObject> AdmitPodAsync(JsonObject pod, string @namespace, CancellationToken cancellationToken)
    {
        PodDefaults.Default(pod);
        PodDefaults.Admit(pod);
        List<JsonObject> configurations;
        IReadOnlyDictionary<string, string> namespaceLabels;
        lock (gate)
        {
            configurations = [.. objects[Key("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations")].Values.Select(c => (JsonObject)c.DeepClone())];
            // Cluster-scoped objects are stored under "/name".
            namespaceLabels = objects[Key(string.Empty, "v1", "namespaces")].TryGetValue($"/{@namespace}", out var ns)
                ? LabelSelector.Labels(ns)
                : new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = @namespace };
        }

        pod = await webhooks.AdmitAsync(pod, @namespace, namespaceLabels, configurations, cancellationToken);
        PodDefaults.Default(pod);
        if (PodValidation.Problems(pod) is { Count: > 0 } problems)
        {
            throw new ApiError(422, "Invalid", $"Pod \"{pod["metadata"]?["name"]}\" is invalid: [{string.Join(", ", problems)}]");
        }

        return pod;
    }

    // Called under the lock: the custom resource checked (and pruned, defaulted) against its CRD's
    // schema; on an update, what the stored object already broke is tolerated (validation ratcheting).
    private static void Validate(ResourceType type, string name, JsonObject obj, JsonObject? current = null)
    {
        if (type.Schema is { } schema && schema.Admit(obj) is { Count: > 0 } found
            && found.Except(current is null ? [] : schema.Admit((JsonObject)current.DeepClone())).ToList() is { Count: > 0 } errors)
        {
            throw new ApiError(422, "Invalid", $"{type.Kind}.{type.Group} \"{name}\" is invalid: {string.Join(", ", errors)}");
        }
    }

    // Called under the lock: a created CustomResourceDefinition serves its served versions.
    private void Serve(JsonObject crd)
    {
        var spec = crd["spec"]!;
        var group = spec["group"]!.GetValue<string>();
        var names = spec["names"]!;
        foreach (var version in ((spec["versions"] as JsonArray) ?? []).OfType<JsonObject>().Where(v => v["served"]?.GetValue<bool>() != false))
        {
            var schema = version["schema"]?["openAPIV3Schema"] as JsonObject;
            Register(
                group,
                version["name"]!.GetValue<string>(),
                names["plural"]!.GetValue<string>(),
                names["kind"]!.GetValue<string>(),
                version["subresources"]?["status"] is not null,
                spec["scope"]?.GetValue<string>() != "Cluster",
                schema is null ? null : new StructuralSchema((JsonObject)schema.DeepClone()));
        }
    }

    // Called under the lock.
    // The index of the first history entry newer than version (called under the lock).
    private int FirstAfter(long version)
    {
        var (low, high) = (0, history.Count);
        while (low < high)
        {
            var middle = (low + high) / 2;
            if (history[middle].Version > version)
            {
                high = middle;
            }
            else
            {
                low = middle + 1;
            }
        }

        return low;
    }

    // Deferred, and walked under the lock by its caller: pods are counted only when a quota asks.
    private IEnumerable<JsonObject> InNamespace(string plural, string @namespace) =>
        objects[Key(string.Empty, "v1", plural)].Values.Where(o => o["metadata"]?["namespace"]?.GetValue<string>() == @namespace);

    private static HashSet<string> Finalizers(JsonObject obj) =>
        ((obj["metadata"]?["finalizers"] as JsonArray) ?? []).Select(f => f!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);

    // Called under the lock.
    private void Commit(ResourceType type, string key, JsonObject obj, string eventType, bool remove = false)
    {
        resourceVersion++;
        obj["metadata"]!["resourceVersion"] = resourceVersion.ToString(CultureInfo.InvariantCulture);
        var store = objects[Key(type.Group, type.Version, type.Plural)];
        store.TryGetValue(key, out var stored);
        if (remove)
        {
            store.Remove(key);
        }
        else
        {
            store[key] = (JsonObject)obj.DeepClone();
        }

        Index(type, key, stored, remove ? null : obj);
        if (remove)
        {
            pendingCollections.Enqueue(obj);
        }

        history.Add((resourceVersion, Key(type.Group, type.Version, type.Plural), eventType, (JsonObject)obj.DeepClone()));
        if (history.Count > HistoryLimit)
        {
            history.RemoveRange(0, history.Count - HistoryLimit);
        }

        var previous = changed;
        changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        previous.TrySetResult();
        CollectDependents();
    }

    private static JsonObject Spec(JsonObject obj) =>
        new(obj.Where(kv => kv.Key is not ("metadata" or "status" or "apiVersion" or "kind")).Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.DeepClone())));

    private static Func<JsonObject, bool> Selector(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return _ => true;
        }

        var pairs = text.Split(',').Select(p => p.Split('=', 2)).ToList();
        // "key=value" needs that value; a bare "key" needs the label to exist.
        return o => pairs.All(p => p.Length > 1 ? o["metadata"]?["labels"]?[p[0]]?.GetValue<string>() == p[1] : o["metadata"]?["labels"]?[p[0]] is not null);
    }

    private static async Task<JsonObject> ReadAsync(HttpRequest request) =>
        JsonNode.Parse(await new StreamReader(request.Body).ReadToEndAsync())?.AsObject() ?? throw new ApiError(400, "BadRequest", "empty body");

    private static async Task WriteAsync(HttpContext context, int code, JsonObject body)
    {
        context.Response.StatusCode = code;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString());
    }

    private static Task StatusAsync(HttpContext context, int code, string reason, string message) => WriteAsync(context, code, Status(code, reason, message));

    private static JsonObject Status(int code, string reason, string message) => new()
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = "Failure",
        ["message"] = message,
        ["reason"] = reason,
        ["code"] = code,
    };

    private static ApiError NotFound(ResourceType type, string name) => new(404, "NotFound", $"{type.Plural} \"{name}\" not found");

    private sealed record ResourceType(string Group, string Version, string Plural, string Kind, bool StatusSubresource, bool Namespaced, StructuralSchema? Schema)
    {
        private static readonly HashSet<string> BuiltInGroups = [string.Empty, "coordination.k8s.io", "apiextensions.k8s.io", "admissionregistration.k8s.io"];

        public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

        /// <summary>Custom resources: an update must name the resourceVersion it replaces.</summary>
        public bool Custom => !BuiltInGroups.Contains(Group);
    }
}
