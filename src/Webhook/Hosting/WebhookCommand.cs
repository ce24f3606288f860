using System.CommandLine;
using System.Net;
using k8s;
using Serilog;
using Serilog.Formatting.Compact;
using TorchFerry.Runtime.Hosting;
using TorchFerry.Storage;
using TorchFerry.Webhook.Admission;
using TorchFerry.Webhook.Mutation;
using TorchFerry.Webhook.Profiles;

namespace TorchFerry.Webhook.Hosting;

/// <summary><c>torchferry-webhook</c>: flags, TLS files, profile source, JSON logs.</summary>
internal static class WebhookCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        var listen = new Option<string>("--listen") { Description = "Address and port to serve HTTPS on.", DefaultValueFactory = _ => "0.0.0.0:9443" };
        var cert = new Option<string?>("--tls-cert-file") { Description = "PEM certificate (default: Kestrel__Certificates__Default__Path)." };
        var key = new Option<string?>("--tls-key-file") { Description = "PEM private key (default: Kestrel__Certificates__Default__KeyPath)." };
        var profilesDir = new Option<string?>("--profiles-dir") { Description = "Read DeviceProfiles from YAML files here instead of the cluster (local runs)." };
        var kubeconfig = new Option<string?>("--kubeconfig") { Description = "A kubeconfig file; in-cluster configuration in a pod." };
        var prepareInputsImage = new Option<string>("--prepare-inputs-image", "--serializer-image") { Description = "Image of the prepare-inputs init container (entry point torchferry). --serializer-image is the old name, kept for one release.", Required = true };
        var ownNamespace = new Option<string>("--namespace") { Description = "The webhook's own namespace (never mutated).", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("POD_NAMESPACE") ?? "torchferry-system" };
        var prepareInputsTimeout = CommandLine.Seconds("--prepare-inputs-timeout", "Seconds the prepare-inputs init container may take before passing the original inputs on", MutationOptions.DefaultTimeoutSeconds, minimum: 1);
        var prepareInputsOperatorWait = CommandLine.Seconds("--prepare-inputs-operator-wait", "Seconds the prepare-inputs init container waits for the operator's variants before converting itself", MutationOptions.DefaultOperatorWaitSeconds, minimum: 0);
        var shutdownDelay = CommandLine.Seconds("--shutdown-delay", "Seconds the webhook keeps serving after SIGTERM while the Service's endpoints drop this replica (what a preStop sleep would do)", 5, minimum: 0);
        var shutdownTimeout = CommandLine.Seconds("--shutdown-timeout", "Seconds reviews in flight may take to finish after the delay, before the process exits", 20, minimum: 1);
        var prepareInputsResources = new Option<string?>("--prepare-inputs-resources") { Description = "JSON requests and limits (cpu, memory) of the prepare-inputs init container; each limit is also bounded by the task container's." };
        var gpuResourceName = new Option<string?>("--gpu-resource-name") { Description = "The GPU resource GPU profiles ask for (propeller's gpu-resource-name; default nvidia.com/gpu)." };
        var gpuDeviceNodeLabel = new Option<string?>("--gpu-device-node-label") { Description = "Node label a profile's gpuProduct is matched on (propeller's gpu-device-node-label; default k8s.amazonaws.com/accelerator)." };
        var gpuPartitionLabel = new Option<string?>("--gpu-partition-size-node-label") { Description = "Node label a profile's migProfile is matched on (propeller's gpu-partition-size-node-label; default k8s.amazonaws.com/gpu-partition-size)." };
        var gpuTolerations = new Option<string?>("--gpu-tolerations") { Description = "JSON array of tolerations GPU pods get (propeller's resource-tolerations for the GPU resource; default the nvidia.com/gpu NoSchedule taint)." };
        var inputsDevices = new Option<string?>("--inputs-device-namespaces") { Description = "JSON {\"namespace\": \"cpu\"}: Flyte pods there get their PyTorch inputs for that device without an annotation." };
        var variantPrefix = CommandLine.Checked(
            "--variant-prefix",
            "The bucket-level prefix the operator lays variants under (the operator's --variant-prefix), handed to prepare-inputs; unset: beside their sources.",
            value => VariantLayout.Problem(value) is { } problem ? "--variant-prefix: " + problem : null);
        var root = new RootCommand("TorchFerry admission webhook for Flyte task pods.")
        {
            listen, cert, key, profilesDir, kubeconfig, prepareInputsImage, prepareInputsTimeout, prepareInputsOperatorWait, ownNamespace, inputsDevices,
            gpuResourceName, gpuDeviceNodeLabel, gpuPartitionLabel, gpuTolerations, prepareInputsResources, shutdownDelay, shutdownTimeout, variantPrefix,
        };
        root.SetAction(async (parse, cancellationToken) =>
        {
            Log.Logger = new LoggerConfiguration().WriteTo.Console(new CompactJsonFormatter()).CreateLogger();
            try
            {
                var certPath = parse.GetValue(cert) ?? Environment.GetEnvironmentVariable("Kestrel__Certificates__Default__Path")
                    ?? throw new ArgumentException("--tls-cert-file (or Kestrel__Certificates__Default__Path) is required: the webhook serves HTTPS only");
                var keyPath = parse.GetValue(key) ?? Environment.GetEnvironmentVariable("Kestrel__Certificates__Default__KeyPath")
                    ?? throw new ArgumentException("--tls-key-file (or Kestrel__Certificates__Default__KeyPath) is required");
                if (parse.GetResult(prepareInputsImage)?.IdentifierToken?.Value == "--serializer-image")
                {
                    Log.Warning("--serializer-image is deprecated and will be removed; use --prepare-inputs-image");
                }

                var options = new AdmissionOptions
                {
                    OwnNamespace = parse.GetValue(ownNamespace)!,
                    InputsDeviceByNamespace = InputsDevices.Parse(parse.GetValue(inputsDevices)),
                    Mutation = new MutationOptions(parse.GetValue(prepareInputsImage)!, parse.GetValue(prepareInputsTimeout), parse.GetValue(prepareInputsOperatorWait))
                    {
                        PrepareInputsResources = InitResources.Parse(parse.GetValue(prepareInputsResources)),
                        Variants = VariantLayout.Under(parse.GetValue(variantPrefix)),
                        Gpu = GpuArguments.Parse(parse.GetValue(gpuResourceName), parse.GetValue(gpuDeviceNodeLabel), parse.GetValue(gpuPartitionLabel), parse.GetValue(gpuTolerations)),
                    },
                };
                using var shutdown = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                IDeviceProfileSource profiles;
                Task informing = Task.CompletedTask;
                Kubernetes? client = null;
                if (parse.GetValue(profilesDir) is { } folder)
                {
                    profiles = new DirectoryProfileSource(folder, Log.Logger);
                }
                else
                {
                    client = new Kubernetes(KubeConfig.Select(parse.GetValue(kubeconfig)));
                    var informer = new InformerProfileSource(client, TimeProvider.System, Log.Logger);
                    informing = informer.RunAsync(shutdown.Token);
                    profiles = informer;
                }

                await using var server = new WebhookServer(profiles, options, new CertificateReloader(certPath, keyPath, TimeProvider.System, Log.Logger), IPEndPoint.Parse(parse.GetValue(listen)!), Log.Logger);
                await server.StartAsync(cancellationToken).ConfigureAwait(false);
                Log.Information("Serving admission reviews on {Endpoint}", server.Endpoint);
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }

                // The API server keeps calling this replica until the Service's endpoints drop it.
                var delay = TimeSpan.FromSeconds(parse.GetValue(shutdownDelay));
                var drain = TimeSpan.FromSeconds(parse.GetValue(shutdownTimeout));
                Log.Information("Terminating: serving {Delay} more while endpoints drop this replica, then draining for up to {Drain}", delay, drain);
                server.BeginTermination();
                await Task.Delay(delay, CancellationToken.None).ConfigureAwait(false);
                await server.StopAsync(drain).ConfigureAwait(false);
                Log.Information("Stopped serving admission reviews");
                await shutdown.CancelAsync().ConfigureAwait(false);
                await informing.ConfigureAwait(false);
                client?.Dispose();
                return 0;
            }
            finally
            {
                await Log.CloseAndFlushAsync().ConfigureAwait(false);
            }
        });
        return await CommandLine.InvokeAsync(
            root,
            "torchferry-webhook",
            args,
            Console.Error,
            terminationTimeout: parse => TimeSpan.FromSeconds(parse.GetValue(shutdownDelay) + parse.GetValue(shutdownTimeout) + 1)).ConfigureAwait(false);
    }
}
