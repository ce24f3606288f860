using k8s;
using k8s.Models;
using TorchFerry.Contract;
using TorchFerry.Flyte;
using TorchFerry.Operator.Flyte;

namespace TorchFerry.Operator.Tests.Flyte;

public sealed class FlytePodProjectionTests
{
    [Theory]
    [InlineData(null)]
    [InlineData(3)]
    public void Strip_PropellersPod_KeepsWhatTheWatcherReads_InAFractionOfTheBytes(int? mapIndex)
    {
        var pod = PropellerPod(mapIndex);

        var stripped = FlytePodProjection.Strip(pod);

        Assert.Equal(FlyteTaskPod.From(pod), FlyteTaskPod.From(stripped));
        Assert.NotNull(FlyteTaskPod.From(stripped)!.Inputs);
        Assert.Equal(mapIndex, FlyteTaskPod.From(stripped)!.ArrayIndex);
        Assert.True(FlyteTaskPod.Succeeded(stripped, FlyteTaskPod.From(stripped)!));
        Assert.Equal(FlyteWorkflowOwner.Of(pod.Metadata)!.Uid, FlyteWorkflowOwner.Of(stripped.Metadata)!.Uid);
        Assert.Equal(pod.Metadata.Uid, stripped.Metadata.Uid);
        Assert.Equal(pod.Metadata.ResourceVersion, stripped.Metadata.ResourceVersion);
        Assert.Equal(pod.Metadata.Annotations![FlyteLabels.PrimaryContainerAnnotation], stripped.Metadata.Annotations![FlyteLabels.PrimaryContainerAnnotation]);
        var (before, after) = (KubernetesJson.Serialize(pod).Length, KubernetesJson.Serialize(stripped).Length);
        Assert.True(after * 8 < before, $"stripped {before} bytes to {after}");
        Assert.DoesNotContain("AWS_SECRET_ACCESS_KEY", KubernetesJson.Serialize(stripped), StringComparison.Ordinal);
    }

    // A task pod as propeller makes it and the API server returns it (../shared/reference/flyte.md).
    private static V1Pod PropellerPod(int? mapIndex)
    {
        var env = new List<V1EnvVar>
        {
            new() { Name = "FLYTE_INTERNAL_EXECUTION_ID", Value = "a1b2c3d4e5f6g7h8i9j0" },
            new() { Name = "FLYTE_INTERNAL_EXECUTION_PROJECT", Value = "flytesnacks" },
            new() { Name = "FLYTE_INTERNAL_EXECUTION_DOMAIN", Value = "development" },
            new() { Name = "FLYTE_INTERNAL_EXECUTION_WORKFLOW", Value = "workflows.train_predict" },
            new() { Name = "FLYTE_ATTEMPT_NUMBER", Value = "0" },
            new() { Name = "AWS_SECRET_ACCESS_KEY", Value = "not-for-the-cache" },
        };
        env.AddRange(Enumerable.Range(0, 40).Select(i => new V1EnvVar { Name = $"FLYTE_INTERNAL_SETTING_{i}", Value = new string('x', 60) }));
        if (mapIndex is { } index)
        {
            env.Add(new V1EnvVar { Name = MapTaskInputs.IndexVariable, Value = index.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }

        return new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = "a1b2c3d4e5f6g7h8i9j0-n1-0",
                NamespaceProperty = "flytesnacks-development",
                Uid = "6a9c1f0e-0000-4000-8000-000000000001",
                ResourceVersion = "48213",
                Labels = new Dictionary<string, string> { ["execution-id"] = "a1b2c3d4e5f6g7h8i9j0", ["node-id"] = "n1", ["task-name"] = "workflows-predict", ["project"] = "flytesnacks", ["domain"] = "development", ["interruptible"] = "false", ["shard-key"] = "21" },
                Annotations = new Dictionary<string, string> { ["cluster-autoscaler.kubernetes.io/safe-to-evict"] = "false", ["primary_container_name"] = "a1b2c3d4e5f6g7h8i9j0-n1-0" },
                OwnerReferences = [new V1OwnerReference { ApiVersion = "flyte.lyft.com/v1alpha1", Kind = "flyteworkflow", Name = "a1b2c3d4e5f6g7h8i9j0", Uid = "5f0e-uid", BlockOwnerDeletion = true, Controller = true }],
                ManagedFields = Enumerable.Range(0, 3).Select(i => new V1ManagedFieldsEntry { Manager = $"manager-{i}", Operation = "Update", FieldsType = "FieldsV1", FieldsV1 = new string('f', 2000) }).ToList(),
            },
            Spec = new V1PodSpec
            {
                RestartPolicy = "Never",
                Affinity = new V1Affinity(),
                Containers =
                [
                    new V1Container
                    {
                        Name = "a1b2c3d4e5f6g7h8i9j0-n1-0",
                        Image = "cr.flyte.org/flyteorg/flytekit:py3.11-1.16.5",
                        Args = ["pyflyte-execute", "--inputs", "s3://bucket/metadata/n1/data/inputs.pb", "--output-prefix", "s3://bucket/metadata/n1/data/0", "--raw-output-data-prefix", "s3://bucket/data/a1", "--checkpoint-path", "s3://bucket/data/a1/_flytecheckpoints", "--prev-checkpoint", "\"\"", "--resolver", "flytekit.core.python_auto_container.default_task_resolver", "--", "task-module", "workflows", "task-name", "predict"],
                        Env = env,
                        Resources = new V1ResourceRequirements { Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new ResourceQuantity("1"), ["memory"] = new ResourceQuantity("2Gi") } },
                        VolumeMounts = [new V1VolumeMount { MountPath = "/var/run/secrets/kubernetes.io/serviceaccount", Name = "kube-api-access-x1y2z", ReadOnlyProperty = true }],
                        TerminationMessagePath = "/dev/termination-log",
                        ImagePullPolicy = "IfNotPresent",
                    },
                ],
                Volumes = [new V1Volume { Name = "kube-api-access-x1y2z", Projected = new V1ProjectedVolumeSource { Sources = [new V1VolumeProjection { ServiceAccountToken = new V1ServiceAccountTokenProjection { Path = "token", ExpirationSeconds = 3607 } }] } }],
                Tolerations = [new V1Toleration { Effect = "NoExecute", Key = "node.kubernetes.io/not-ready", OperatorProperty = "Exists", TolerationSeconds = 300 }, new V1Toleration { Effect = "NoExecute", Key = "node.kubernetes.io/unreachable", OperatorProperty = "Exists", TolerationSeconds = 300 }],
            },
            Status = new V1PodStatus
            {
                Phase = "Succeeded",
                PodIP = "10.0.0.7",
                Conditions = [new V1PodCondition { Status = "True", Type = "Ready" }, new V1PodCondition { Status = "True", Type = "Initialized" }],
                ContainerStatuses = [new V1ContainerStatus { Name = "a1b2c3d4e5f6g7h8i9j0-n1-0", Image = "flytekit", ImageID = "sha256:0", Ready = false, RestartCount = 0, State = new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 0, Reason = "Completed" } } }],
            },
        };
    }
}
