using TorchFerry.Contract;
using TorchFerry.Format.Archive;
using TorchFerry.Flyte;
using TorchFerry.Storage;

namespace TorchFerry.Cli.PrepareInputs;

/// <summary>
/// The prepare-inputs init container's job in a consumer pod: rewrite the task's inputs LiteralMap so every PyTorch blob
/// points at its variant for the pod's device, waiting a bounded time for the operator to make them.
/// A variant counts as ready only if it is on the device and its storage records are the source's
/// (same names, sizes and CRCs), so a stale variant of an older source is never used. If anything is
/// missing or fails, the original inputs are written unchanged: a task never fails because of TorchFerry.
/// </summary>
internal sealed class InputPreparer(ObjectStoreRouter stores, TimeProvider time, TextWriter log)
{
    public async Task<int> PrepareAsync(StorageUri source, StorageUri target, TorchDevice device, TimeSpan timeout, TimeSpan poll, CancellationToken cancellationToken)
    {
        var original = await stores.For(source).ReadAllAsync(source, FlyteTaskArgs.MaxLiteralMapBytes, cancellationToken).ConfigureAwait(false);
        try
        {
            var blobs = FlyteLiterals.FindPyTorchBlobs(original);
            var variants = new Dictionary<string, string>(StringComparer.Ordinal);
            var deadline = time.GetUtcNow() + timeout;
            var pending = blobs.Select(b => b.Uri).Distinct(StringComparer.Ordinal).ToList();
            while (pending.Count > 0)
            {
                foreach (var uri in pending.ToList())
                {
                    if (await ReadyVariantAsync(StorageUri.Parse(uri), device.Name, cancellationToken).ConfigureAwait(false) is { } variant)
                    {
                        variants[uri] = variant;
                        pending.Remove(uri);
                    }
                }

                if (pending.Count == 0 || time.GetUtcNow() >= deadline)
                {
                    break;
                }

                await Task.Delay(poll, time, cancellationToken).ConfigureAwait(false);
            }

            if (pending.Count > 0)
            {
                await log.WriteLineAsync($"torchferry: prepare-inputs: no ready {device} variant after {timeout.TotalSeconds:0} s for {string.Join(", ", pending)}; passing the inputs on unchanged").ConfigureAwait(false);
                await WriteAsync(target, original, cancellationToken).ConfigureAwait(false);
                return 0;
            }

            var (rewritten, replaced) = FlyteLiterals.RewritePyTorchBlobs(original, blob => variants.GetValueOrDefault(blob.Uri));
            await WriteAsync(target, rewritten, cancellationToken).ConfigureAwait(false);
            await log.WriteLineAsync($"torchferry: prepare-inputs: {replaced} of {blobs.Count} PyTorch inputs point at {device} variants").ConfigureAwait(false);
            return 0;
        }
#pragma warning disable CA1031 // any doubt about a blob means its original is passed on: the task never fails because of TorchFerry
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
#pragma warning restore CA1031
        {
            await log.WriteLineAsync($"torchferry: prepare-inputs: {e.Message}; passing the inputs on unchanged").ConfigureAwait(false);
            await WriteAsync(target, original, cancellationToken).ConfigureAwait(false);
            return 0;
        }
    }

    /// <summary>The URI to use on <paramref name="device"/>: the source if it is already there, its verified variant, or null.</summary>
    private async Task<string?> ReadyVariantAsync(StorageUri source, string device, CancellationToken cancellationToken)
    {
        var (sourceArchive, sourceHandle) = await OpenAsync(source, cancellationToken).ConfigureAwait(false);
        using (sourceHandle)
        {
            if (sourceArchive.IsEntirelyOn(device))
            {
                return source.ToUriString();
            }

            var variant = VariantNaming.UriFor(source, device);
            try
            {
                var (variantArchive, variantHandle) = await OpenAsync(variant, cancellationToken).ConfigureAwait(false);
                using (variantHandle)
                {
                    return variantArchive.IsEntirelyOn(device) && sourceArchive.HasSameRecordsAs(variantArchive) ? variant.ToUriString() : null;
                }
            }
            catch (StorageException e) when (e.Kind == StorageErrorKind.NotFound)
            {
                return null;
            }
        }
    }

    private async Task<(TorchArchive Archive, IDisposable? Handle)> OpenAsync(StorageUri uri, CancellationToken cancellationToken)
    {
        var store = stores.For(uri);
        var info = await store.StatAsync(uri, cancellationToken).ConfigureAwait(false);
        var source = await store.OpenReadAsync(uri, info, cancellationToken).ConfigureAwait(false);
        try
        {
            return (await TorchArchive.OpenAsync(source, cancellationToken: cancellationToken).ConfigureAwait(false), source as IDisposable);
        }
        catch
        {
            (source as IDisposable)?.Dispose();
            throw;
        }
    }

    private async Task WriteAsync(StorageUri target, byte[] bytes, CancellationToken cancellationToken)
    {
        await using var writer = await stores.For(target).CreateWriterAsync(target, cancellationToken).ConfigureAwait(false);
        await writer.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }
}
