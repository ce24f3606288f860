using k8s;

namespace TorchFerry.Runtime.Hosting;

/// <summary>Where the operator and the webhook find the API server, as kubectl and client-go do.</summary>
internal static class KubeConfig
{
    /// <summary>
    /// The file given with <c>--kubeconfig</c>; else the pod's service account when running in a
    /// cluster; else <c>$KUBECONFIG</c> or <c>~/.kube/config</c>.
    /// </summary>
    public static KubernetesClientConfiguration Select(string? kubeconfigPath) =>
        kubeconfigPath is not null ? KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfigPath)
        : KubernetesClientConfiguration.IsInCluster() ? KubernetesClientConfiguration.InClusterConfig()
        : KubernetesClientConfiguration.BuildConfigFromConfigFile(Environment.GetEnvironmentVariable("KUBECONFIG") is { Length: > 0 } path ? path.Split(Path.PathSeparator)[0] : null);
}
