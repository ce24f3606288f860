using Serilog;
using TorchFerry.Storage.Local;
using TorchFerry.Storage.S3;

namespace TorchFerry.Storage;

/// <summary>Finds the store for a URI: local files, or one S3 client shared by every s3:// URI.</summary>
public sealed class ObjectStoreRouter : IDisposable
{
    private readonly Lazy<S3ObjectStore> s3;
    private readonly LocalObjectStore local;

    /// <param name="s3Options">S3 settings; from the environment when null.</param>
    /// <param name="log">Where storage events go.</param>
    /// <param name="durableLocalWrites">fsync local files before renaming them into place.</param>
    public ObjectStoreRouter(S3StoreOptions? s3Options = null, ILogger? log = null, bool durableLocalWrites = true)
    {
        log ??= Log.Logger;
        local = new LocalObjectStore(durableLocalWrites);
        s3 = new Lazy<S3ObjectStore>(() => new S3ObjectStore(s3Options ?? S3StoreOptions.FromEnvironment(), log));
    }

    /// <summary>The store that holds <paramref name="uri"/>.</summary>
    public IObjectStore For(StorageUri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        return uri.Scheme == StorageScheme.S3 ? s3.Value : local;
    }

    public void Dispose()
    {
        if (s3.IsValueCreated)
        {
            s3.Value.Dispose();
        }
    }
}
