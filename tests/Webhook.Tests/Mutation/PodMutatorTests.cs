using System.Text.Json.Nodes;
using k8s.Models;
using TorchFerry.Contract;
using TorchFerry.Crds;
using TorchFerry.Flyte;
using TorchFerry.TestSupport;
using TorchFerry.Webhook.Mutation;

namespace TorchFerry.Webhook.Tests.Mutation;

/// <summary>Patches applied with kubectl's own code (kubectl patch --local) to realistic Flyte pods.</summary>
public sealed class PodMutatorTests
{
    private static readonly MutationOptions Options = new("ghcr.io/torchferry/torchferry:0.1.0");

    private static readonly DeviceProfile GpuProfile = new()
    {
        Metadata = new V1ObjectMeta { Name = "train", NamespaceProperty = "flytesnacks-development" },
        Spec = new DeviceProfileSpec
        {
            Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { ["task-name"] = "workflows-train" } },
            Device = new DeviceRequest { Type = DeviceType.Gpu, Count = 1, MigProfile = "1g.10gb", GpuProduct = "NVIDIA-A100-SXM4-80GB" },
            Tolerations = [new V1Toleration { Key = "dedicated", OperatorProperty = "Equal", Value = "ml", Effect = "NoSchedule" }],
            SharedMemorySize = "8Gi",
        },
    };

    [Theory]
    [InlineData("pyflyte-execute")]
    [InlineData("pyflyte-fast-execute")]
    [InlineData("pyflyte-map-execute")]
    public void GpuProfile_GivesTheFlyteContainerItsGpuTolerationsAffinityAndSharedMemory(string entrypoint)
    {
        var pod = AdmissionFixtures.FlytePod(entrypoint);

        var mutated = Apply(pod, GpuProfile);

        var container = mutated["spec"]!["containers"]![0]!;
        Assert.Equal("1", container["resources"]!["limits"]!["nvidia.com/mig-1g.10gb"]!.GetValue<string>());
        Assert.Equal("1", container["resources"]!["requests"]!["nvidia.com/mig-1g.10gb"]!.GetValue<string>());
        Assert.Equal("2", container["resources"]!["limits"]!["cpu"]!.GetValue<string>());
        var tolerations = mutated["spec"]!["tolerations"]!.AsArray().Select(t => t!["key"]!.GetValue<string>()).ToList();
        Assert.Contains("nvidia.com/gpu", tolerations);
        Assert.Contains("dedicated", tolerations);
        Assert.Contains("node.kubernetes.io/not-ready", tolerations);
        var required = mutated["spec"]!["affinity"]!["nodeAffinity"]!["requiredDuringSchedulingIgnoredDuringExecution"]!["nodeSelectorTerms"]![0]!["matchExpressions"]!.AsArray();
        Assert.Equal(
            [("k8s.amazonaws.com/accelerator", "NVIDIA-A100-SXM4-80GB"), ("k8s.amazonaws.com/gpu-partition-size", "1g.10gb")],
            required.Select(e => (e!["key"]!.GetValue<string>(), e["values"]![0]!.GetValue<string>())));
        Assert.Contains(mutated["spec"]!["volumes"]!.AsArray(), v => v!["emptyDir"]?["medium"]?.GetValue<string>() == "Memory" && v["emptyDir"]!["sizeLimit"]!.GetValue<string>() == "8Gi");
        Assert.Contains(container["volumeMounts"]!.AsArray(), m => m!["mountPath"]!.GetValue<string>() == "/dev/shm");
        Assert.Equal("injected:gpu,dshm", mutated["metadata"]!["annotations"]![Annotations.Status]!.GetValue<string>());
        Assert.Null(mutated["metadata"]!["annotations"]![Annotations.Conflicts]);
        Assert.All(required, e => Assert.Equal("In", e!["operator"]!.GetValue<string>()));
        Assert.True(PodMutator.Mutate(mutated, GpuProfile, Options).IsEmpty, "a second pass changes nothing");
    }

    [Fact]
    public void GpuProfile_FollowsPropellersGpuSettings()
    {
        var settings = new GpuSettings("example.com/gpu", "cloud.example.com/accelerator", "cloud.example.com/partition", [new JsonObject { ["key"] = "gpu-only", ["operator"] = "Exists" }]);
        var profile = new DeviceProfile
        {
            Metadata = new V1ObjectMeta { Name = "train", NamespaceProperty = "flytesnacks-development" },
            Spec = new DeviceProfileSpec { Selector = new V1LabelSelector(), Device = new DeviceRequest { Type = DeviceType.Gpu, Count = 2, GpuProduct = "a100" } },
        };
        var pod = AdmissionFixtures.FlytePod();

        var mutated = Kubectl.PatchLocally(pod, PodMutator.Mutate(pod, profile, Options with { Gpu = settings }).Patch);

        Assert.Equal("2", mutated["spec"]!["containers"]![0]!["resources"]!["limits"]!["example.com/gpu"]!.GetValue<string>());
        Assert.Contains(mutated["spec"]!["tolerations"]!.AsArray(), t => t!["key"]!.GetValue<string>() == "gpu-only");
        Assert.DoesNotContain(mutated["spec"]!["tolerations"]!.AsArray(), t => t!["key"]!.GetValue<string>() == "nvidia.com/gpu");
        Assert.Equal("cloud.example.com/accelerator", mutated["spec"]!["affinity"]!["nodeAffinity"]!["requiredDuringSchedulingIgnoredDuringExecution"]!["nodeSelectorTerms"]![0]!["matchExpressions"]![0]!["key"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("nvidia.com/gpu")]
    [InlineData("nvidia.com/mig-3g.40gb")]
    public void PodAlreadyAskingForAGpu_KeepsIt_AndGetsNoSliceOnTop(string asked)
    {
        var pod = AdmissionFixtures.FlytePod();
        pod["spec"]!["containers"]![0]!["resources"]!["limits"]![asked] = "1";

        var mutation = PodMutator.Mutate(pod, GpuProfile, Options);
        var limits = Kubectl.PatchLocally(pod, mutation.Patch)["spec"]!["containers"]![0]!["resources"]!["limits"]!.AsObject();

        Assert.Equal([asked], limits.Select(kv => kv.Key).Where(k => k.StartsWith("nvidia.com/", StringComparison.Ordinal)));
        Assert.Contains("gpu-resource", mutation.Conflicts);
        Assert.DoesNotContain("gpu-partition-size", mutation.Patch.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public void InterruptiblePodWithRequiredAffinity_GetsTheGpuConstraintsInEveryTerm()
    {
        // propeller's interruptible selector: a required term of its own; terms are ORed, so each gets the constraints.
        var pod = AdmissionFixtures.FlytePod();
        pod["spec"]!["affinity"] = JsonNode.Parse("""
            {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
              {"matchExpressions": [{"key": "interruptible", "operator": "In", "values": ["true"]}]},
              {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["spot"]}]}]}}}
            """);

        var mutated = Apply(pod, GpuProfile);

        var terms = mutated["spec"]!["affinity"]!["nodeAffinity"]!["requiredDuringSchedulingIgnoredDuringExecution"]!["nodeSelectorTerms"]!.AsArray();
        Assert.Equal(2, terms.Count);
        Assert.All(terms, t => Assert.Equal(
            [t!["matchExpressions"]![0]!["key"]!.GetValue<string>(), "k8s.amazonaws.com/accelerator", "k8s.amazonaws.com/gpu-partition-size"],
            t["matchExpressions"]!.AsArray().Select(e => e!["key"]!.GetValue<string>())));
        Assert.True(PodMutator.Mutate(mutated, GpuProfile, Options).IsEmpty, "a second pass changes nothing");
    }

    [Fact]
    public void PodTemplateTask_MutatesThePrimaryContainerAndLeavesTheSidecarAlone()
    {
        var pod = JsonNode.Parse("""
            {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "f-n0-0", "namespace": "flytesnacks-development", "labels": {"execution-id": "f", "node-id": "n0", "task-name": "workflows-train"}},
             "spec": {"containers": [
               {"name": "sidecar", "image": "busybox", "command": ["sleep", "infinity"]},
               {"name": "primary", "image": "my/trainer:1", "command": ["python", "train.py"]}],
              "restartPolicy": "Never"}}
            """)!.AsObject();

        var mutated = Apply(pod, GpuProfile);

        Assert.Null(mutated["spec"]!["containers"]![0]!["resources"]?["limits"]);
        Assert.Equal("1", mutated["spec"]!["containers"]![1]!["resources"]!["limits"]!["nvidia.com/mig-1g.10gb"]!.GetValue<string>());
    }

    [Fact]
    public void PodThatAlreadyAsksForGpus_KeepsItsCount_RecordsTheConflict_AndGetsTheRest()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["spec"]!["containers"]![0]!["resources"]!["limits"]!["nvidia.com/mig-1g.10gb"] = "2";

        var mutated = Apply(pod, GpuProfile);

        var container = mutated["spec"]!["containers"]![0]!;
        Assert.Equal("2", container["resources"]!["limits"]!["nvidia.com/mig-1g.10gb"]!.GetValue<string>());
        Assert.Equal("1", container["resources"]!["requests"]!["nvidia.com/mig-1g.10gb"]!.GetValue<string>());
        Assert.Equal("limits.nvidia.com/mig-1g.10gb", mutated["metadata"]!["annotations"]![Annotations.Conflicts]!.GetValue<string>());
        Assert.NotNull(mutated["spec"]!["affinity"]);
    }

    [Fact]
    public void GpuPod_MountingItsOwnSharedMemory_KeepsIt_AndRecordsTheConflict()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["spec"]!["volumes"] = JsonNode.Parse("""[{"name":"shm","emptyDir":{"medium":"Memory"}}]""");
        pod["spec"]!["containers"]![0]!["volumeMounts"] = JsonNode.Parse("""[{"name":"shm","mountPath":"/dev/shm"}]""");

        var mutated = Apply(pod, GpuProfile);

        Assert.Equal(["shm"], mutated["spec"]!["volumes"]!.AsArray().Select(v => v!["name"]!.GetValue<string>()));
        Assert.Equal(["/dev/shm"], mutated["spec"]!["containers"]![0]!["volumeMounts"]!.AsArray().Select(m => m!["mountPath"]!.GetValue<string>()));
        Assert.Equal("dshm", mutated["metadata"]!["annotations"]![Annotations.Conflicts]!.GetValue<string>());
        Assert.Equal("injected:gpu", mutated["metadata"]!["annotations"]![Annotations.Status]!.GetValue<string>());
    }

    [Fact]
    public void GpuPod_WithVolumesAndMounts_GetsSharedMemoryAppended_AndItsOwnKept()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["spec"]!["volumes"] = JsonNode.Parse("""[{"name":"data","emptyDir":{}}]""");
        pod["spec"]!["containers"]![0]!["volumeMounts"] = JsonNode.Parse("""[{"name":"data","mountPath":"/data"}]""");

        var mutated = Apply(pod, GpuProfile);

        var volumes = mutated["spec"]!["volumes"]!.AsArray();
        Assert.Equal(2, volumes.Count);
        Assert.Equal("data", volumes[0]!["name"]!.GetValue<string>());
        Assert.Equal(("Memory", "8Gi"), (volumes[1]!["emptyDir"]!["medium"]!.GetValue<string>(), volumes[1]!["emptyDir"]!["sizeLimit"]!.GetValue<string>()));
        var mounts = mutated["spec"]!["containers"]![0]!["volumeMounts"]!.AsArray();
        Assert.Equal(["/data", "/dev/shm"], mounts.Select(m => m!["mountPath"]!.GetValue<string>()));
        Assert.Equal(volumes[1]!["name"]!.GetValue<string>(), mounts[1]!["name"]!.GetValue<string>());
    }

    [Fact]
    public void GpuPod_AlreadyToleratingTheGpuTaint_GetsNoSecondCopy_AndNoTolerationsListIsCreatedWhenNoneAreMissing()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["spec"]!["tolerations"]!.AsArray().Add(JsonNode.Parse("""{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"}"""));
        pod["spec"]!["tolerations"]!.AsArray().Add(JsonNode.Parse("""{"key":"dedicated","operator":"Equal","value":"ml","effect":"NoSchedule"}"""));

        var mutated = Apply(pod, GpuProfile);

        var keys = mutated["spec"]!["tolerations"]!.AsArray().Select(t => t!["key"]!.GetValue<string>()).ToList();
        Assert.Equal(["node.kubernetes.io/not-ready", "nvidia.com/gpu", "dedicated"], keys);

        var bare = AdmissionFixtures.FlytePod("pyflyte-execute");
        bare["spec"]!.AsObject().Remove("tolerations");
        var added = Apply(bare, GpuProfile)["spec"]!["tolerations"]!.AsArray().Select(t => t!["key"]!.GetValue<string>());
        Assert.Equal(["nvidia.com/gpu", "dedicated"], added);
    }

    [Theory]
    [InlineData("""{}""")] // as flytepropeller leaves it
    [InlineData("""{"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}]}}""")]
    [InlineData("""{"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}]}}""")]
    public void GpuPod_WithAffinityButNoRequiredNodeTerms_GetsOneRequiredTerm_AndKeepsTheRest(string affinity)
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["spec"]!["affinity"] = JsonNode.Parse(affinity);

        var mutated = Apply(pod, GpuProfile);

        var terms = mutated["spec"]!["affinity"]!["nodeAffinity"]!["requiredDuringSchedulingIgnoredDuringExecution"]!["nodeSelectorTerms"]!.AsArray();
        var term = Assert.Single(terms);
        Assert.Equal(["k8s.amazonaws.com/accelerator", "k8s.amazonaws.com/gpu-partition-size"], term!["matchExpressions"]!.AsArray().Select(e => e!["key"]!.GetValue<string>()));
        foreach (var (kind, value) in JsonNode.Parse(affinity)!.AsObject())
        {
            foreach (var (field, setting) in value!.AsObject())
            {
                Assert.True(JsonNode.DeepEquals(setting, mutated["spec"]!["affinity"]![kind]![field]), $"{kind}.{field} was changed");
            }
        }
    }

    [Fact]
    public void GpuProfileWithoutProductOrSlice_AddsNoNodeAffinity()
    {
        // An empty nodeSelectorTerm matches no node: adding one would leave the pod Pending for ever.
        var profile = new DeviceProfile
        {
            Metadata = new V1ObjectMeta { Name = "any-gpu", NamespaceProperty = "flytesnacks-development" },
            Spec = new DeviceProfileSpec { Selector = new V1LabelSelector(), Device = new DeviceRequest { Type = DeviceType.Gpu, Count = 1 } },
        };

        var mutated = Apply(AdmissionFixtures.FlytePod("pyflyte-execute"), profile);

        Assert.Equal("1", mutated["spec"]!["containers"]![0]!["resources"]!["limits"]!["nvidia.com/gpu"]!.GetValue<string>());
        Assert.Null(mutated["spec"]!["affinity"]);
    }

    [Fact]
    public void GpuPod_ContainerWithoutResources_GetsTheGpuAsLimitAndRequest()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["spec"]!["containers"]![0]!.AsObject().Remove("resources");

        var container = Apply(pod, GpuProfile)["spec"]!["containers"]![0]!;

        Assert.Equal("1", container["resources"]!["limits"]!["nvidia.com/mig-1g.10gb"]!.GetValue<string>());
        Assert.Equal("1", container["resources"]!["requests"]!["nvidia.com/mig-1g.10gb"]!.GetValue<string>());
    }

    [Fact]
    public void GpuPod_ContainerWithRequestsOnly_GetsALimitsMapAdded()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["spec"]!["containers"]![0]!["resources"]!.AsObject().Remove("limits");

        var container = Apply(pod, GpuProfile)["spec"]!["containers"]![0]!;

        Assert.Equal("1", container["resources"]!["limits"]!["nvidia.com/mig-1g.10gb"]!.GetValue<string>());
        Assert.Equal("2", container["resources"]!["requests"]!["cpu"]!.GetValue<string>());
    }

    [Fact]
    public void CpuConsumer_OptedIn_ReadsPreparedInputsFromItsOwnOutputPrefix()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["metadata"]!["annotations"] = new JsonObject { [Annotations.InputsDevice] = "cpu", ["cluster-autoscaler.kubernetes.io/safe-to-evict"] = "false" };

        var mutated = Apply(pod, profile: null);

        var args = mutated["spec"]!["containers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
        Assert.Equal("s3://flyte/metadata/f/n1/data/0/torchferry-inputs.pb", args[args.IndexOf("--inputs") + 1]);
        var init = Assert.Single(mutated["spec"]!["initContainers"]!.AsArray())!;
        Assert.Equal(PodMutator.InitContainerName, init["name"]!.GetValue<string>());
        Assert.Equal(["prepare-inputs", "--source", "s3://flyte/metadata/f/n1/data/inputs.pb", "--target", "s3://flyte/metadata/f/n1/data/0/torchferry-inputs.pb", "--device", "cpu", "--timeout", "300", "--operator-wait", "10"], init["args"]!.AsArray().Select(a => a!.GetValue<string>()));
        Assert.Contains(init["env"]!.AsArray(), e => e!["name"]!.GetValue<string>() == "NVIDIA_VISIBLE_DEVICES" && e["value"]!.GetValue<string>() == "void");
        Assert.Contains(init["env"]!.AsArray(), e => e!["name"]!.GetValue<string>() == "FLYTE_INTERNAL_EXECUTION_ID");
        Assert.Equal("cpu", mutated["metadata"]!["annotations"]![Annotations.TargetDevice]!.GetValue<string>());
        Assert.Equal("s3://flyte/metadata/f/n1/data/inputs.pb", mutated["metadata"]!["annotations"]![Annotations.InputsSource]!.GetValue<string>());
        Assert.Equal("false", mutated["metadata"]!["annotations"]!["cluster-autoscaler.kubernetes.io/safe-to-evict"]!.GetValue<string>());
        Assert.True(PodMutator.Mutate(mutated, null, Options).IsEmpty);
    }

    [Theory]
    [InlineData(null, null, "500m", "256Mi", "50m", "64Mi")]
    [InlineData("2", "4Gi", "500m", "256Mi", "50m", "64Mi")]
    [InlineData("200m", "128Mi", "200m", "128Mi", "50m", "64Mi")]
    [InlineData("20m", "32Mi", "20m", "32Mi", "20m", "32Mi")]
    [InlineData("0.1", "100M", "0.1", "100M", "50m", "64Mi")]
    public void InitContainer_HasCpuAndMemoryLimits_NoLargerThanTheTasks(string? taskCpu, string? taskMemory, string cpuLimit, string memoryLimit, string cpuRequest, string memoryRequest)
    {
        // A compute ResourceQuota refuses a pod whose init container lacks limits; limits above the task's would raise its usage.
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["metadata"]!["annotations"] = new JsonObject { [Annotations.InputsDevice] = "cpu" };
        pod["spec"]!["containers"]![0]!.AsObject().Remove("resources");
        if (taskCpu is not null)
        {
            pod["spec"]!["containers"]![0]!["resources"] = new JsonObject { ["limits"] = new JsonObject { ["cpu"] = taskCpu, ["memory"] = taskMemory } };
        }

        var init = Apply(pod, profile: null)["spec"]!["initContainers"]![0]!["resources"]!;

        Assert.Equal(cpuLimit, init["limits"]!["cpu"]!.GetValue<string>());
        Assert.Equal(memoryLimit, init["limits"]!["memory"]!.GetValue<string>());
        Assert.Equal(cpuRequest, init["requests"]!["cpu"]!.GetValue<string>());
        Assert.Equal(memoryRequest, init["requests"]!["memory"]!.GetValue<string>());
    }

    [Fact]
    public void InitContainer_ReadsWithTheTasksMounts_AsANonRootUserEvenUnderAPodRunAsRoot()
    {
        // IRSA: the identity webhook mounts the token into the task container and points AWS_WEB_IDENTITY_TOKEN_FILE at it.
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["metadata"]!["annotations"] = new JsonObject { [Annotations.InputsDevice] = "cpu" };
        pod["spec"]!["securityContext"] = new JsonObject { ["runAsUser"] = 0 };
        pod["spec"]!["volumes"] = new JsonArray(new JsonObject { ["name"] = "aws-iam-token", ["projected"] = new JsonObject { ["sources"] = new JsonArray(new JsonObject { ["serviceAccountToken"] = new JsonObject { ["audience"] = "sts.amazonaws.com", ["path"] = "token" } }) } });
        var mount = new JsonObject { ["name"] = "aws-iam-token", ["readOnly"] = true, ["mountPath"] = "/var/run/secrets/eks.amazonaws.com/serviceaccount" };
        pod["spec"]!["containers"]![0]!["volumeMounts"] = new JsonArray(mount);

        var init = Apply(pod, profile: null)["spec"]!["initContainers"]![0]!;

        Assert.True(JsonNode.DeepEquals(mount, Assert.Single(init["volumeMounts"]!.AsArray())));
        Assert.Equal((true, 1654), (init["securityContext"]!["runAsNonRoot"]!.GetValue<bool>(), init["securityContext"]!["runAsUser"]!.GetValue<int>()));
        Assert.Equal("IfNotPresent", init["imagePullPolicy"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("gs://flyte/metadata/f/n1/data/inputs.pb")]
    [InlineData("abfs://flyte@account.dfs.core.windows.net/f/n1/data/inputs.pb")]
    public void InputsOnAStoreTorchFerryCannotRead_GetNoInputsStep(string inputs)
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["metadata"]!["annotations"] = new JsonObject { [Annotations.InputsDevice] = "cpu" };
        var args = pod["spec"]!["containers"]![0]!["args"]!.AsArray();
        args[args.Select(a => a!.GetValue<string>()).ToList().IndexOf("--inputs") + 1] = inputs;

        Assert.True(PodMutator.Mutate(pod, profile: null, Options).IsEmpty);
        Assert.DoesNotContain("inputs", PodMutator.Mutate(pod, GpuProfile, Options).Applied);
    }

    [Theory]
    [InlineData("pyflyte-execute")]
    [InlineData("pyflyte-map-execute")]
    public void MapSubtask_PreparesItsOwnItemIntoItsOwnFile(string entrypoint)
    {
        // Legacy map subtasks share one --output-prefix; each gets a file of its own and only its item is prepared.
        var pod = AdmissionFixtures.FlytePod(entrypoint);
        pod["metadata"]!["annotations"] = new JsonObject { [Annotations.InputsDevice] = "cpu" };
        pod["spec"]!["containers"]![0]!["env"]!.AsArray().Add(new JsonObject { ["name"] = MapTaskInputs.IndexVariable, ["value"] = "12" });

        var mutated = Apply(pod, profile: null);

        var args = mutated["spec"]!["containers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
        Assert.Equal("s3://flyte/metadata/f/n1/data/0/torchferry-inputs-12.pb", args[args.IndexOf("--inputs") + 1]);
        var init = mutated["spec"]!["initContainers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
        Assert.Equal(("s3://flyte/metadata/f/n1/data/0/torchferry-inputs-12.pb", "12"), (init[init.IndexOf("--target") + 1], init[init.IndexOf("--array-index") + 1]));
    }

    [Fact]
    public void InitContainer_ConfiguredResources_StillBoundedByTheTasks()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["metadata"]!["annotations"] = new JsonObject { [Annotations.InputsDevice] = "cpu" };
        var options = Options with { PrepareInputsResources = InitResources.Parse("""{"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": 4, "memory": "1Gi"}}""") };

        var init = Kubectl.PatchLocally(pod, PodMutator.Mutate(pod, null, options).Patch)["spec"]!["initContainers"]![0]!["resources"]!;

        // The fixture's task asks for cpu 2, memory 4Gi.
        Assert.Equal(("2", "1Gi", "100m", "128Mi"), (init["limits"]!["cpu"]!.GetValue<string>(), init["limits"]!["memory"]!.GetValue<string>(), init["requests"]!["cpu"]!.GetValue<string>(), init["requests"]!["memory"]!.GetValue<string>()));
    }

    [Fact]
    public void InitContainer_WaitsTheConfiguredTimeout()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["metadata"]!["annotations"] = new JsonObject { [Annotations.InputsDevice] = "cpu" };

        var mutated = Kubectl.PatchLocally(pod, PodMutator.Mutate(pod, null, Options with { PrepareInputsTimeoutSeconds = 20 }).Patch);

        var args = mutated["spec"]!["initContainers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
        Assert.Equal("20", args[args.IndexOf("--timeout") + 1]);
    }

    [Fact]
    public void InitContainer_LooksForVariantsUnderTheOperatorsPrefix()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["metadata"]!["annotations"] = new JsonObject { [Annotations.InputsDevice] = "cpu" };

        var beside = Kubectl.PatchLocally(pod, PodMutator.Mutate(pod, null, Options).Patch);
        var prefixed = Kubectl.PatchLocally(pod, PodMutator.Mutate(pod, null, Options with { Variants = Storage.VariantLayout.Under("torchferry-variants") }).Patch);

        Assert.DoesNotContain("--variant-prefix", beside["spec"]!["initContainers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()));
        var args = prefixed["spec"]!["initContainers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
        Assert.Equal("torchferry-variants/", args[args.IndexOf("--variant-prefix") + 1]);
    }

    [Fact]
    public void PodTemplateTask_PrimaryContainerNamedByPropeller_GetsTheInputsStep()
    {
        // propeller's primary_container_name names the task's container; the sidecar beside it runs no pyflyte-execute.
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        var task = pod["spec"]!["containers"]![0]!.AsObject();
        task["name"] = "trainer";
        pod["spec"]!["containers"] = new JsonArray(
            new JsonObject { ["name"] = "sidecar", ["image"] = "busybox", ["args"] = new JsonArray("--inputs", "x", "--output-prefix", "y") },
            task.DeepClone());
        pod["metadata"]!["annotations"] = new JsonObject { [Annotations.InputsDevice] = "cpu", [FlyteLabels.PrimaryContainerAnnotation] = "trainer" };

        var mutated = Apply(pod, profile: null);

        Assert.Equal(["--inputs", "x", "--output-prefix", "y"], mutated["spec"]!["containers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()));
        Assert.Contains("s3://flyte/metadata/f/n1/data/0/torchferry-inputs.pb", mutated["spec"]!["containers"]![1]!["args"]!.AsArray().Select(a => a!.GetValue<string>()));
    }

    [Fact]
    public void PodThatDidNotOptIn_IsLeftAlone()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");

        Assert.True(PodMutator.Mutate(pod, profile: null, Options).IsEmpty);
        pod["metadata"]!["annotations"] = new JsonObject { [Annotations.Inject] = "false" };
        Assert.True(PodMutator.Mutate(pod, GpuProfile, Options).IsEmpty);
    }

    [Fact]
    public void Matcher_PicksHighestPriorityThenMostSpecificThenName()
    {
        var labels = new Dictionary<string, string> { ["task-name"] = "workflows-train", ["project"] = "flytesnacks" };
        DeviceProfile Profile(string name, int priority, params (string Key, string Value)[] match) => new()
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "ns" },
            Spec = new DeviceProfileSpec { Priority = priority, Selector = new V1LabelSelector { MatchLabels = match.ToDictionary(m => m.Key, m => m.Value) }, Device = new DeviceRequest { Type = DeviceType.Gpu } },
        };

        var broad = Profile("a-broad", 0);
        var specific = Profile("b-specific", 0, ("task-name", "workflows-train"), ("project", "flytesnacks"));
        var urgent = Profile("c-urgent", 5, ("project", "flytesnacks"));
        var other = Profile("d-other", 9, ("task-name", "something-else"));

        Assert.Equal("c-urgent", DeviceProfileMatcher.Best([broad, specific, urgent, other], "ns", labels)!.Metadata.Name);
        Assert.Equal("b-specific", DeviceProfileMatcher.Best([broad, specific, other], "ns", labels)!.Metadata.Name);
        Assert.Null(DeviceProfileMatcher.Best([broad, specific], "elsewhere", labels));

        // Equal priority and specificity: the first name wins, whatever order they are listed in.
        var twin = Profile("e-twin", 0, ("task-name", "workflows-train"), ("project", "flytesnacks"));
        Assert.Equal("b-specific", DeviceProfileMatcher.Best([twin, specific], "ns", labels)!.Metadata.Name);
        Assert.Equal("b-specific", DeviceProfileMatcher.Best([specific, twin], "ns", labels)!.Metadata.Name);
    }

    [Fact]
    public void BadInputsDevice_IsRefusedNamingWhereItCameFrom()
    {
        // The admission warning must say which setting to fix: the pod's annotation or the profile's field.
        var annotated = AdmissionFixtures.FlytePod("pyflyte-execute");
        annotated["metadata"]!["annotations"] = new JsonObject { [Annotations.InputsDevice] = "tpu:0" };
        var profiled = AdmissionFixtures.FlytePod("pyflyte-execute");
        var profile = new DeviceProfile
        {
            Metadata = new V1ObjectMeta { Name = "cpu-eval", NamespaceProperty = "flytesnacks-development" },
            Spec = new DeviceProfileSpec { Selector = new V1LabelSelector(), Device = new DeviceRequest { Type = DeviceType.Cpu }, InputsDevice = "gpu" },
        };

        var fromAnnotation = PodMutator.Mutate(annotated, profile: null, Options);
        var fromProfile = PodMutator.Mutate(profiled, profile, Options);

        Assert.True(fromAnnotation.IsEmpty);
        Assert.Equal(TorchDevice.Problem("tpu:0", "annotation " + Annotations.InputsDevice), fromAnnotation.RefusedInputsDevice);
        Assert.StartsWith("annotation torchferry.io/inputs-device 'tpu:0': not a device", fromAnnotation.RefusedInputsDevice, StringComparison.Ordinal);
        Assert.True(fromProfile.IsEmpty);
        Assert.StartsWith("DeviceProfile cpu-eval inputsDevice 'gpu': not a device", fromProfile.RefusedInputsDevice, StringComparison.Ordinal);
    }

    [Fact]
    public void InputsDevice_AnnotationOverProfileOverNamespaceDefault_AndTheStepIsRecordedInTheStatus()
    {
        var profile = new DeviceProfile
        {
            Metadata = new V1ObjectMeta { Name = "gpu-eval", NamespaceProperty = "flytesnacks-development" },
            Spec = new DeviceProfileSpec { Selector = new V1LabelSelector(), Device = new DeviceRequest { Type = DeviceType.Cpu }, InputsDevice = "cuda:1" },
        };
        string Target(JsonObject pod, DeviceProfile? p, TorchDevice? namespaceDefault)
        {
            var mutation = PodMutator.Mutate(pod, p, Options, namespaceDefault);
            var mutated = Kubectl.PatchLocally(pod, mutation.Patch);
            Assert.Equal("injected:inputs", mutated["metadata"]!["annotations"]![Annotations.Status]!.GetValue<string>());
            var init = mutated["spec"]!["initContainers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
            Assert.Equal(init[init.IndexOf("--device") + 1], mutated["metadata"]!["annotations"]![Annotations.TargetDevice]!.GetValue<string>());
            return init[init.IndexOf("--device") + 1];
        }

        var annotated = AdmissionFixtures.FlytePod("pyflyte-execute");
        annotated["metadata"]!["annotations"] = new JsonObject { [Annotations.InputsDevice] = "cpu" };
        Assert.True(TorchDevice.TryParse("cuda:0", out var namespaceDefault));

        Assert.Equal("cpu", Target(annotated, profile, namespaceDefault));
        Assert.Equal("cuda:1", Target(AdmissionFixtures.FlytePod("pyflyte-execute"), profile, namespaceDefault));
        Assert.Equal("cuda:0", Target(AdmissionFixtures.FlytePod("pyflyte-execute"), p: null, namespaceDefault));
    }

    [Fact]
    public void SeveralConflicts_AreAllRecorded_CommaSeparated()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["spec"]!["containers"]![0]!["resources"]!["limits"]!["nvidia.com/mig-1g.10gb"] = "2";
        pod["spec"]!["volumes"] = JsonNode.Parse("""[{"name":"shm","emptyDir":{"medium":"Memory"}}]""");
        pod["spec"]!["containers"]![0]!["volumeMounts"] = JsonNode.Parse("""[{"name":"shm","mountPath":"/dev/shm"}]""");

        var mutated = Apply(pod, GpuProfile);

        Assert.Equal("limits.nvidia.com/mig-1g.10gb,dshm", mutated["metadata"]!["annotations"]![Annotations.Conflicts]!.GetValue<string>());
    }

    [Fact]
    public void StatusAnnotationsAlreadyOnThePod_AreReplaced_AndTheOthersKept()
    {
        // A pod built from a copied manifest can carry TorchFerry's annotations without its status; they must describe this pod.
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["metadata"]!["annotations"] = new JsonObject
        {
            [Annotations.InputsDevice] = "cpu",
            [Annotations.TargetDevice] = "cuda:3",
            [Annotations.InputsSource] = "s3://elsewhere/inputs.pb",
            ["team"] = "ml",
        };

        var mutated = Apply(pod, profile: null);

        var annotations = mutated["metadata"]!["annotations"]!;
        Assert.Equal(("cpu", "s3://flyte/metadata/f/n1/data/inputs.pb", "ml"), (annotations[Annotations.TargetDevice]!.GetValue<string>(), annotations[Annotations.InputsSource]!.GetValue<string>(), annotations["team"]!.GetValue<string>()));
        Assert.Equal("injected:inputs", annotations[Annotations.Status]!.GetValue<string>());
    }

    [Fact]
    public void PrimaryContainer_TorchFerrysAnnotationWinsOverPropellers()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        var task = pod["spec"]!["containers"]![0]!.AsObject();
        pod["spec"]!["containers"] = new JsonArray(RenamedCopy(task, "trainer"), RenamedCopy(task, "evaluator"));
        pod["metadata"]!["annotations"] = new JsonObject { [Annotations.PrimaryContainer] = "evaluator", [FlyteLabels.PrimaryContainerAnnotation] = "trainer" };

        var mutated = Apply(pod, GpuProfile);

        Assert.Null(mutated["spec"]!["containers"]![0]!["resources"]!["limits"]!["nvidia.com/mig-1g.10gb"]);
        Assert.Equal("1", mutated["spec"]!["containers"]![1]!["resources"]!["limits"]!["nvidia.com/mig-1g.10gb"]!.GetValue<string>());
    }

    [Fact]
    public void PrimaryContainer_NamedButAbsent_MutatesNothing_EvenAContainerNamedPrimary()
    {
        // A name that matches no container is doubt: no container is guessed.
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["spec"]!["containers"]![0]!["name"] = "primary";
        pod["metadata"]!["annotations"] = new JsonObject { [FlyteLabels.PrimaryContainerAnnotation] = "trainer", [Annotations.InputsDevice] = "cpu" };

        Assert.True(PodMutator.Mutate(pod, GpuProfile, Options).IsEmpty);
    }

    [Fact]
    public void PrimaryContainer_Unnamed_IsTheOneRunningPyflyte_NotTheSidecarBeforeIt()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        var task = pod["spec"]!["containers"]![0]!;
        pod["spec"]!["containers"] = new JsonArray(
            new JsonObject { ["name"] = "primary", ["image"] = "busybox", ["command"] = new JsonArray("sleep", "infinity") },
            task.DeepClone());

        var mutated = Apply(pod, GpuProfile);

        Assert.Null(mutated["spec"]!["containers"]![0]!["resources"]);
        Assert.Equal("1", mutated["spec"]!["containers"]![1]!["resources"]!["limits"]!["nvidia.com/mig-1g.10gb"]!.GetValue<string>());
    }

    [Fact]
    public void EntrypointSplitBetweenCommandAndArgs_IsFoundAndItsInputsPrepared()
    {
        // Container tasks may carry the entrypoint in command and its flags in args.
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        var container = pod["spec"]!["containers"]![0]!.AsObject();
        container["name"] = "task";
        var args = container["args"]!.AsArray();
        container["command"] = new JsonArray(args[0]!.DeepClone());
        args.RemoveAt(0);
        pod["metadata"]!["annotations"] = new JsonObject { [Annotations.InputsDevice] = "cpu" };

        var mutated = Apply(pod, profile: null);

        var rewritten = mutated["spec"]!["containers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
        Assert.Equal("s3://flyte/metadata/f/n1/data/0/torchferry-inputs.pb", rewritten[rewritten.IndexOf("--inputs") + 1]);
        Assert.Equal(["pyflyte-execute"], mutated["spec"]!["containers"]![0]!["command"]!.AsArray().Select(a => a!.GetValue<string>()));
    }

    [Fact]
    public void GpuProfile_WithItsOwnResourceName_AsksForThatResource()
    {
        var profile = new DeviceProfile
        {
            Metadata = new V1ObjectMeta { Name = "amd", NamespaceProperty = "flytesnacks-development" },
            Spec = new DeviceProfileSpec { Selector = new V1LabelSelector(), Device = new DeviceRequest { Type = DeviceType.Gpu, Count = 2, ResourceName = "amd.com/gpu" } },
        };

        var limits = Apply(AdmissionFixtures.FlytePod("pyflyte-execute"), profile)["spec"]!["containers"]![0]!["resources"]!["limits"]!.AsObject();

        Assert.Equal("2", limits["amd.com/gpu"]!.GetValue<string>());
        Assert.Null(limits["nvidia.com/gpu"]);
    }

    [Fact]
    public void GpuPod_RequiredTermsAlreadyHoldingAConstraint_GetOnlyTheMissingOnes()
    {
        // The first term already requires the product; the second has only matchFields, so it gets a matchExpressions list.
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["spec"]!["affinity"] = JsonNode.Parse("""
            {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
              {"matchExpressions": [{"key": "k8s.amazonaws.com/accelerator", "operator": "In", "values": ["NVIDIA-A100-SXM4-80GB"]}]},
              {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["gpu-node-1"]}]}]}}}
            """);

        var mutated = Apply(pod, GpuProfile);

        var terms = mutated["spec"]!["affinity"]!["nodeAffinity"]!["requiredDuringSchedulingIgnoredDuringExecution"]!["nodeSelectorTerms"]!.AsArray();
        Assert.All(terms, t => Assert.Equal(
            ["k8s.amazonaws.com/accelerator", "k8s.amazonaws.com/gpu-partition-size"],
            t!["matchExpressions"]!.AsArray().Select(e => e!["key"]!.GetValue<string>())));
        Assert.Equal("gpu-node-1", terms[1]!["matchFields"]![0]!["values"]![0]!.GetValue<string>());
        Assert.True(PodMutator.Mutate(mutated, GpuProfile, Options).IsEmpty, "a second pass changes nothing");
    }

    [Fact]
    public void GpuPod_MountingSharedMemoryAmongOtherMounts_KeepsIt()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["spec"]!["volumes"] = JsonNode.Parse("""[{"name":"data","emptyDir":{}},{"name":"shm","emptyDir":{"medium":"Memory"}}]""");
        pod["spec"]!["containers"]![0]!["volumeMounts"] = JsonNode.Parse("""[{"name":"data","mountPath":"/data"},{"name":"shm","mountPath":"/dev/shm"}]""");

        var mutated = Apply(pod, GpuProfile);

        Assert.Equal(["/data", "/dev/shm"], mutated["spec"]!["containers"]![0]!["volumeMounts"]!.AsArray().Select(m => m!["mountPath"]!.GetValue<string>()));
        Assert.Equal("dshm", mutated["metadata"]!["annotations"]![Annotations.Conflicts]!.GetValue<string>());
    }

    [Fact]
    public void GpuPod_RequiredAffinityWithNoTerms_GetsItsTermsReplacedByTheGpuConstraints()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["spec"]!["affinity"] = JsonNode.Parse("""{"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}""");

        var mutated = Apply(pod, GpuProfile);

        var term = Assert.Single(mutated["spec"]!["affinity"]!["nodeAffinity"]!["requiredDuringSchedulingIgnoredDuringExecution"]!["nodeSelectorTerms"]!.AsArray());
        Assert.Equal(["k8s.amazonaws.com/accelerator", "k8s.amazonaws.com/gpu-partition-size"], term!["matchExpressions"]!.AsArray().Select(e => e!["key"]!.GetValue<string>()));
    }

    [Fact]
    public void PodWithoutAFlyteOrPrimaryContainer_IsLeftAlone()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["spec"]!["containers"] = new JsonArray(new JsonObject { ["name"] = "server", ["image"] = "nginx", ["args"] = new JsonArray("--port", "80") });
        pod["metadata"]!["annotations"] = new JsonObject { [Annotations.InputsDevice] = "cpu" };

        Assert.True(PodMutator.Mutate(pod, GpuProfile, Options).IsEmpty);
    }

    [Fact]
    public void GpuPod_TermHoldingTheProductAndAnotherConstraint_GetsOnlyTheSliceAdded()
    {
        var pod = AdmissionFixtures.FlytePod("pyflyte-execute");
        pod["spec"]!["affinity"] = JsonNode.Parse("""
            {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
              {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["gpu"]}, {"key": "k8s.amazonaws.com/accelerator", "operator": "In", "values": ["NVIDIA-A100-SXM4-80GB"]}]}]}}}
            """);

        var mutated = Apply(pod, GpuProfile);

        var keys = mutated["spec"]!["affinity"]!["nodeAffinity"]!["requiredDuringSchedulingIgnoredDuringExecution"]!["nodeSelectorTerms"]![0]!["matchExpressions"]!.AsArray().Select(e => e!["key"]!.GetValue<string>());
        Assert.Equal(["pool", "k8s.amazonaws.com/accelerator", "k8s.amazonaws.com/gpu-partition-size"], keys);
    }

    private static JsonObject RenamedCopy(JsonObject container, string name)
    {
        var copy = container.DeepClone().AsObject();
        copy["name"] = name;
        return copy;
    }

    private static JsonObject Apply(JsonObject pod, DeviceProfile? profile)
    {
        var mutation = PodMutator.Mutate(pod, profile, Options);
        Assert.False(mutation.IsEmpty);
        return Kubectl.PatchLocally(pod, mutation.Patch);
    }
}
