using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

// webhookbench cert DIR                     write a self-signed serving certificate (tls.crt, tls.key) into DIR
// webhookbench load URL RATE SECONDS PID CERT   open-loop load (trusting the server only with CERT): RATE AdmissionReviews a second for SECONDS at URL,
//                                           after 3 s of the same not counted (WEBHOOKBENCH_WARMUP_S), sampling the server's RSS
//                                           (process PID) every second; prints one result line
switch (args)
{
    case ["cert", var folder]:
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=torchferry-webhook-bench", key, HashAlgorithmName.SHA256);
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(1));
            File.WriteAllText(Path.Combine(folder, "tls.crt"), certificate.ExportCertificatePem());
            File.WriteAllText(Path.Combine(folder, "tls.key"), key.ExportPkcs8PrivateKeyPem());
            return 0;
        }

    case ["load", var url, var rateText, var secondsText, var pidText, var certFile]:
        {
            using var trusted = X509Certificate2.CreateFromPem(File.ReadAllText(certFile));
            var rate = int.Parse(rateText, CultureInfo.InvariantCulture);
            var seconds = int.Parse(secondsText, CultureInfo.InvariantCulture);
            var pid = int.Parse(pidText, CultureInfo.InvariantCulture);
            using var http = new HttpClient(new SocketsHttpHandler
            {
                SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && certificate.GetCertHashString() == trusted.Thumbprint },
                MaxConnectionsPerServer = 64,
            }) { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(10) };
            var body = Encoding.UTF8.GetBytes(Review);
            var latencies = new List<double>(rate * seconds);
            var cold = new List<double>();
            var errors = 0;
            var rss = new List<long>();
            var inFlight = new List<Task>();
            var clock = Stopwatch.StartNew();
            var begin = Stopwatch.GetTimestamp();
            double? slowMs = Environment.GetEnvironmentVariable("WEBHOOKBENCH_SLOW_MS") is { } slowText ? double.Parse(slowText, CultureInfo.InvariantCulture) : null;
            var interval = TimeSpan.FromSeconds(1.0 / rate);

            // The first WEBHOOKBENCH_WARMUP_S seconds (default 3) at the same rate are sent but not
            // counted: the API server keeps its connections to a webhook, so what it feels is a warm
            // client's latency, not a fresh process opening its pool and compiling its code.
            var warmup = (int)(rate * double.Parse(Environment.GetEnvironmentVariable("WEBHOOKBENCH_WARMUP_S") ?? "3", CultureInfo.InvariantCulture));
            var total = warmup + (rate * seconds);
            var nextSample = TimeSpan.Zero;
            for (var i = 0; i < total; i++)
            {
                var due = interval * i;
                var wait = due - clock.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait);
                }

                if (clock.Elapsed >= nextSample)
                {
                    rss.Add(Rss(pid));
                    nextSample += TimeSpan.FromSeconds(1);
                }

                inFlight.Add(SendAsync(counted: i >= warmup));
            }

            await Task.WhenAll(inFlight);
            rss.Add(Rss(pid));
            latencies.Sort();
            cold.Sort();
            static double Percentile(List<double> sorted, double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{rate}|{seconds}|{latencies.Count}|{errors}|{Percentile(latencies, 0.5):F2}|{Percentile(latencies, 0.99):F2}|{Percentile(latencies, 0.999):F2}|{rss[0] / 1024}|{rss.Max() / 1024}|{rss[^1] / 1024}|{Percentile(cold, 0.99):F2}|{Percentile(cold, 1):F2}"));
            return 0;

            async Task SendAsync(bool counted)
            {
                var start = Stopwatch.GetTimestamp();
                try
                {
                    using var content = new ByteArrayContent(body);
                    content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                    using var response = await http.PostAsync(new Uri("/mutate-pods", UriKind.Relative), content);
                    await response.Content.ReadAsByteArrayAsync();
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        if (counted)
                        {
                            Interlocked.Increment(ref errors);
                        }

                        return;
                    }
                }
                catch (HttpRequestException)
                {
                    if (counted)
                    {
                        Interlocked.Increment(ref errors);
                    }

                    return;
                }
                catch (TaskCanceledException)
                {
                    if (counted)
                    {
                        Interlocked.Increment(ref errors);
                    }

                    return;
                }

                var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                if (!counted)
                {
                    lock (cold)
                    {
                        cold.Add(elapsed);
                    }

                    return;
                }

                lock (latencies)
                {
                    latencies.Add(elapsed);
                }

                // WEBHOOKBENCH_SLOW_MS=N: say when each slower answer was sent (to find what pauses).
                if (slowMs is { } slow && elapsed > slow)
                {
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"slow: sent at {Stopwatch.GetElapsedTime(begin, start).TotalMilliseconds:F0} ms, answered in {elapsed:F1} ms"));
                }
            }
        }

    default:
        Console.Error.WriteLine("usage: webhookbench cert DIR | load URL RATE SECONDS PID CERT");
        return 2;
}

static long Rss(int pid) =>
    long.Parse(File.ReadAllLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

internal static partial class Program
{
    private const string Review = """
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
         "request": {"uid": "bench", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "resource": {"group": "", "version": "v1", "resource": "pods"},
                     "namespace": "flytesnacks-development", "operation": "CREATE", "userInfo": {"username": "system:serviceaccount:flyte:flytepropeller"},
                     "object": {"apiVersion": "v1", "kind": "Pod",
                                "metadata": {"name": "f-n0-0", "namespace": "flytesnacks-development",
                                             "labels": {"execution-id": "f", "node-id": "n0", "task-name": "workflows-train-train-model", "project": "flytesnacks", "domain": "development"}},
                                "spec": {"containers": [{"name": "f-n0-0", "image": "cr.flyte.org/flyteorg/flytekit:py3.11",
                                                          "args": ["pyflyte-execute", "--inputs", "s3://flyte/metadata/f/n0/data/inputs.pb", "--output-prefix", "s3://flyte/metadata/f/n0/data/0", "--raw-output-data-prefix", "s3://flyte/raw/ab", "--resolver", "flytekit.core.python_auto_container.default_task_resolver", "--", "task-module", "workflows.train", "task-name", "train_model"],
                                                          "env": [{"name": "FLYTE_INTERNAL_EXECUTION_ID", "value": "f"}],
                                                          "resources": {"limits": {"cpu": "2", "memory": "4Gi"}}}],
                                         "restartPolicy": "Never"}},
                     "dryRun": false}}
        """;
}
