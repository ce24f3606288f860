using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

// webhookbench cert DIR                     write a self-signed serving certificate (tls.crt, tls.key) into DIR
// webhookbench load URL RATE SECONDS PID CERT   open-loop load (trusting the server only with CERT): RATE AdmissionReviews a second for SECONDS at URL,
//                                           sampling the server's RSS (process PID) every second; prints one result line
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
            var errors = 0;
            var rss = new List<long>();
            var inFlight = new List<Task>();
            var clock = Stopwatch.StartNew();
            var interval = TimeSpan.FromSeconds(1.0 / rate);
            var total = rate * seconds;
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

                inFlight.Add(SendAsync());
            }

            await Task.WhenAll(inFlight);
            rss.Add(Rss(pid));
            latencies.Sort();
            double Percentile(double p) => latencies.Count == 0 ? double.NaN : latencies[Math.Min(latencies.Count - 1, (int)(p * latencies.Count))];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{rate}|{seconds}|{latencies.Count}|{errors}|{Percentile(0.5):F2}|{Percentile(0.99):F2}|{Percentile(0.999):F2}|{rss[0] / 1024}|{rss.Max() / 1024}|{rss[^1] / 1024}"));
            return 0;

            async Task SendAsync()
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
                        Interlocked.Increment(ref errors);
                        return;
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref errors);
                    return;
                }
                catch (TaskCanceledException)
                {
                    Interlocked.Increment(ref errors);
                    return;
                }

                var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                lock (latencies)
                {
                    latencies.Add(elapsed);
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
