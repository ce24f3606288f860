using k8s;
using Serilog;
using TorchFerry.Crds;
using TorchFerry.Yaml;

namespace TorchFerry.Webhook.Profiles;

/// <summary>
/// DeviceProfiles from YAML files in a folder (local runs and tests), reloaded when the folder
/// changes. A file that does not parse is skipped with a warning; the others still count.
/// </summary>
internal sealed class DirectoryProfileSource : IDeviceProfileSource, IDisposable
{
    private readonly string folder;
    private readonly ILogger log;
    private readonly FileSystemWatcher watcher;
    private volatile IReadOnlyList<DeviceProfile> profiles = [];

    public DirectoryProfileSource(string folder, ILogger log)
    {
        this.folder = folder;
        this.log = log;
        Reload();
        watcher = new FileSystemWatcher(folder) { EnableRaisingEvents = true, IncludeSubdirectories = false };
        watcher.Changed += (_, _) => Reload();
        watcher.Created += (_, _) => Reload();
        watcher.Deleted += (_, _) => Reload();
        watcher.Renamed += (_, _) => Reload();
    }

    public IReadOnlyList<DeviceProfile> Profiles => profiles;

    public bool Ready => true;

    public void Reload()
    {
        var loaded = new List<DeviceProfile>();
        foreach (var file in Directory.EnumerateFiles(folder).Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            try
            {
                foreach (var document in YamlReader.ReadAll(File.ReadAllText(file)))
                {
                    if (document?["kind"]?.ToString() == nameof(DeviceProfile) && document["apiVersion"]?.ToString() == $"{DeviceProfile.Group}/{DeviceProfile.Version}")
                    {
                        loaded.Add(KubernetesJson.Deserialize<DeviceProfile>(document.ToJsonString()));
                    }
                }
            }
            catch (Exception e) when (e is IOException or YamlDotNet.Core.YamlException or InvalidOperationException or System.Text.Json.JsonException)
            {
                log.Warning("{File:l}: not a DeviceProfile ({Error:l}); skipped", file, e.Message);
            }
        }

        profiles = loaded;
    }

    public void Dispose() => watcher.Dispose();
}
