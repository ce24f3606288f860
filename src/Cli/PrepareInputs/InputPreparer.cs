using TorchFerry.Contract;
using TorchFerry.Format.Conversion;
using TorchFerry.Flyte;
using TorchFerry.Storage;
using TorchFerry.Storage.Conversion;

namespace TorchFerry.Cli.PrepareInputs;

/// <summary>
/// The prepare-inputs init container's job in a consumer pod: rewrite the task's inputs LiteralMap so every PyTorch blob
/// points at its variant for the pod's device. It waits briefly for the operator's variants and then converts what is
/// still missing itself, into the same variant location the operator uses (written whole or not at all), so a consumer
/// never waits long and works with the operator down; the operator then finds the variant there.
/// A variant counts as ready only if it is on the device and its storage records are the source's
/// (same names, sizes and CRCs), so a stale variant of an older source is never used. A blob whose variant cannot be
/// had keeps its original URI; if anything else fails, the original inputs are written unchanged: a task never fails
/// because of TorchFerry.
/// </summary>
internal sealed class InputPreparer(ObjectStoreRouter stores, VariantLayout layout, TimeProvider time, TextWriter output)
{
    /// <summary>Most files and directories of other formats looked at for torch.save content.</summary>
    public const int MaxProbes = 1000;

    /// <summary>Probes in flight at once.</summary>
    public const int ProbeConcurrency = 16;

    private readonly DirectoryVariants directoryVariants = new(stores, new TorchContentProbe(stores), layout);
    private readonly StoreArtifactConverter converter = new(stores);

    // Probes run side by side and each may say why it passed a blob on: one writer, one line at a time.
    private readonly TextWriter log = TextWriter.Synchronized(output);

    /// <param name="source">The task's inputs LiteralMap.</param>
    /// <param name="target">Where the prepared LiteralMap goes (the task's rewritten --inputs).</param>
    /// <param name="device">The task's device.</param>
    /// <param name="timeout">The whole budget: past it, what is not ready is passed on as it is.</param>
    /// <param name="poll">Between checks for the operator's variants.</param>
    /// <param name="operatorWait">How long the operator's variants are waited for before converting here.</param>
    /// <param name="arrayIndex">A map subtask's index: only what it reads is prepared (<see cref="MapTaskInputs"/>).</param>
    /// <param name="cancellationToken">Stops the work.</param>
    public async Task<int> PrepareAsync(StorageUri source, StorageUri target, TorchDevice device, TimeSpan timeout, TimeSpan poll, TimeSpan operatorWait, int? arrayIndex, CancellationToken cancellationToken)
    {
        var original = await stores.For(source).ReadAllAsync(source, FlyteTaskArgs.MaxLiteralMapBytes, cancellationToken).ConfigureAwait(false);
        var written = new List<StorageUri>();
        try
        {
            var offloaded = await OffloadedAsync(original, cancellationToken).ConfigureAwait(false);
            var started = time.GetUtcNow();
            var candidates = FlyteLiterals.FindPyTorchBlobs(original, offloaded, byContent: true).Where(b => arrayIndex is not { } i || MapTaskInputs.IsRead(b, i)).ToList();
            var blobs = candidates.Where(b => b.ByFormat).ToList();
            var torchByContent = await ProbeAsync(candidates.Where(b => !b.ByFormat).ToList(), timeout, cancellationToken).ConfigureAwait(false);
            var directories = candidates.Where(b => b.IsDirectory && torchByContent.Contains(b.Uri)).ToList();
            blobs.AddRange(candidates.Where(b => !b.ByFormat && !b.IsDirectory && torchByContent.Contains(b.Uri)));
            var variants = new Dictionary<string, string>(StringComparer.Ordinal);
            var pending = blobs.Select(b => b.Uri).Distinct(StringComparer.Ordinal).ToList();
            var converted = 0;
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

                var elapsed = time.GetUtcNow() - started;
                if (pending.Count == 0 || elapsed >= timeout)
                {
                    break;
                }

                if (elapsed >= operatorWait)
                {
                    // The operator has not made them: convert here, each within what is left of the budget.
                    foreach (var uri in pending.ToList())
                    {
                        pending.Remove(uri);
                        if (await ConvertHereAsync(StorageUri.Parse(uri), device, started + timeout - time.GetUtcNow(), cancellationToken).ConfigureAwait(false) is { } variant)
                        {
                            variants[uri] = variant;
                            converted++;
                        }
                    }

                    break;
                }

                await Task.Delay(poll, time, cancellationToken).ConfigureAwait(false);
            }

            // Directories of torch files: their variant directory is used when it matches the source, made here otherwise.
            foreach (var directory in directories.Select(d => d.Uri).Distinct(StringComparer.Ordinal))
            {
                if (await DirectoryVariantAsync(directory, device, started + operatorWait, poll, started + timeout - time.GetUtcNow(), cancellationToken).ConfigureAwait(false) is ({ } variant, var madeHere))
                {
                    variants[directory] = variant;
                    converted += madeHere ? 1 : 0;
                }
            }

            blobs.AddRange(directories);
            if (pending.Count > 0)
            {
                await log.WriteLineAsync($"torchferry: prepare-inputs: no ready {device} variant after {timeout.TotalSeconds:0} s for {string.Join(", ", pending)}; passing those on unchanged").ConfigureAwait(false);
            }

            // An offloaded literal with a repointed blob is written anew beside the prepared map, before it.
            var files = 0;
            var rewrite = FlyteLiterals.RewritePyTorchBlobs(
                original,
                blob => arrayIndex is { } i && !MapTaskInputs.IsRead(blob, i) ? null : variants.GetValueOrDefault(blob.Uri),
                offloaded,
                _ => $"{target.ToUriString()}.offloaded-{files++}.pb",
                byContent: true);
            foreach (var file in rewrite.Offloaded)
            {
                var at = StorageUri.Parse(file.Uri);
                written.Add(at);
                await WriteAsync(at, file.Literal, cancellationToken).ConfigureAwait(false);
            }

            // Nothing repointed: the original bytes go on, not a re-encoding of them.
            await WriteAsync(target, rewrite.Replaced == 0 ? original : rewrite.LiteralMap, cancellationToken).ConfigureAwait(false);
            var byContent = blobs.Count(b => !b.ByFormat && !b.IsDirectory);
            await log.WriteLineAsync($"torchferry: prepare-inputs: {rewrite.Replaced} of {blobs.Count} PyTorch inputs point at {device} variants{(converted > 0 ? $" ({converted} converted here)" : string.Empty)}{(rewrite.Offloaded.Count > 0 ? $", {rewrite.Offloaded.Count} of them through offloaded literals written anew" : string.Empty)}{(byContent > 0 ? $"; {byContent} of the inputs are files found to be torch.save archives" : string.Empty)}{(directories.Count > 0 ? $"; {directories.Count} {(directories.Count == 1 ? "is a directory" : "are directories")} holding torch.save files" : string.Empty)}").ConfigureAwait(false);
            return 0;
        }
#pragma warning disable CA1031 // any doubt about a blob means its original is passed on: the task never fails because of TorchFerry
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
#pragma warning restore CA1031
        {
            await log.WriteLineAsync($"torchferry: prepare-inputs: {e.Message}; passing the inputs on unchanged").ConfigureAwait(false);
            await DeleteAsync(written).ConfigureAwait(false);
            await WriteAsync(target, original, cancellationToken).ConfigureAwait(false);
            return 0;
        }
    }

    /// <summary>
    /// The URIs among <paramref name="blobs"/> (files and directories of other formats) whose content is
    /// torch.save archives, probed side by side (at most <see cref="ProbeConcurrency"/> at once), the first
    /// <see cref="MaxProbes"/> of them and within <paramref name="budget"/>: a task handed thousands of
    /// files waits seconds, not minutes; what is not looked at is passed on as it is.
    /// </summary>
    private async Task<HashSet<string>> ProbeAsync(List<PyTorchBlob> blobs, TimeSpan budget, CancellationToken cancellationToken)
    {
        var found = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
        var unique = blobs.DistinctBy(b => b.Uri).ToList();
        using var deadline = new CancellationTokenSource(budget, time);
        using var within = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        var probed = 0;
        try
        {
            await Parallel.ForEachAsync(unique.Take(MaxProbes), new ParallelOptions { MaxDegreeOfParallelism = ProbeConcurrency, CancellationToken = within.Token }, async (blob, token) =>
            {
                var isTorch = blob.IsDirectory ? await HoldsTorchFilesAsync(blob, token).ConfigureAwait(false) : await IsTorchFileAsync(blob, token).ConfigureAwait(false);
                found[blob.Uri] = isTorch;
                Interlocked.Increment(ref probed);
            }).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
        }

        if (unique.Count > probed)
        {
            await log.WriteLineAsync($"torchferry: prepare-inputs: {unique.Count - probed} of {unique.Count} files and directories of other formats not looked at (at most {MaxProbes} within {budget.TotalSeconds:0} s); passing them on unchanged").ConfigureAwait(false);
        }

        return [.. found.Where(f => f.Value).Select(f => f.Key)];
    }

    // A FlyteDirectory is prepared when one of its files is a torch.save archive (likely names looked at first).
    private async Task<bool> HoldsTorchFilesAsync(PyTorchBlob blob, CancellationToken cancellationToken)
    {
        try
        {
            return await directoryVariants.HoldsTorchFilesAsync(blob.Uri, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is StorageException or ArgumentException)
        {
            await log.WriteLineAsync($"torchferry: prepare-inputs: {blob.Path} ({blob.Uri}): not read ({e.Message}); passing it on unchanged").ConfigureAwait(false);
            return false;
        }
    }

    /// <summary>
    /// The directory's variant for the device: the operator's, waited for until <paramref name="operatorDeadline"/>,
    /// or made here within <paramref name="budget"/>; null (reason printed) if neither.
    /// </summary>
    private async Task<(string Variant, bool MadeHere)?> DirectoryVariantAsync(string directory, TorchDevice device, DateTimeOffset operatorDeadline, TimeSpan poll, TimeSpan budget, CancellationToken cancellationToken)
    {
        using var within = new CancellationTokenSource(budget > TimeSpan.Zero ? budget : TimeSpan.FromMilliseconds(1), time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, within.Token);
        try
        {
            while (true)
            {
                if (await directoryVariants.ReadyAsync(directory, device.Name, linked.Token).ConfigureAwait(false) is { } ready)
                {
                    return (ready, false);
                }

                if (time.GetUtcNow() >= operatorDeadline)
                {
                    return (await directoryVariants.ConvertAsync(directory, device.Name, linked.Token).ConfigureAwait(false), true);
                }

                await Task.Delay(poll, time, linked.Token).ConfigureAwait(false);
            }
        }
#pragma warning disable CA1031 // a directory that cannot be converted here is passed on as it is
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
#pragma warning restore CA1031
        {
            var why = within.IsCancellationRequested ? $"not converted within {budget.TotalSeconds:0} s" : e.Message;
            await log.WriteLineAsync($"torchferry: prepare-inputs: {directory}: {why}; passing it on unchanged").ConfigureAwait(false);
            return null;
        }
    }

    // A blob of another format (a FlyteFile) is prepared when its content is a torch.save archive; one
    // that cannot be read is passed on as it is.
    private async Task<bool> IsTorchFileAsync(PyTorchBlob blob, CancellationToken cancellationToken)
    {
        try
        {
            return await directoryVariants.Probe.IsTorchArchiveAsync(StorageUri.Parse(blob.Uri), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is StorageException or ArgumentException)
        {
            await log.WriteLineAsync($"torchferry: prepare-inputs: {blob.Path} ({blob.Uri}): not read ({e.Message}); passing it on unchanged").ConfigureAwait(false);
            return false;
        }
    }

    // The files of the inputs' offloaded literals; one that cannot be read (or is not a Literal) keeps
    // its blobs as they are, the rest are prepared.
    private async Task<Dictionary<string, byte[]>> OffloadedAsync(byte[] map, CancellationToken cancellationToken)
    {
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var offloaded in FlyteLiterals.FindOffloaded(map))
        {
            try
            {
                var uri = StorageUri.Parse(offloaded.Uri);
                var file = await stores.For(uri).ReadAllAsync(uri, FlyteTaskArgs.MaxLiteralMapBytes, cancellationToken).ConfigureAwait(false);
                FlyteLiterals.ValidateOffloaded(offloaded.Uri, file);
                files[offloaded.Uri] = file;
            }
            catch (Exception e) when (e is StorageException or ArgumentException or InvalidDataException)
            {
                await log.WriteLineAsync($"torchferry: prepare-inputs: offloaded literal {offloaded.Path}: {e.Message}; passing its PyTorch inputs on unchanged").ConfigureAwait(false);
            }
        }

        return files;
    }

    // Offloaded literals written before a failure: the original inputs go on, so nothing may point at them.
    private async Task DeleteAsync(List<StorageUri> written)
    {
        foreach (var uri in written)
        {
            try
            {
                await stores.For(uri).DeleteAsync(uri, CancellationToken.None).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // best effort: the task goes on with its original inputs either way
            catch (Exception e)
#pragma warning restore CA1031
            {
                await log.WriteLineAsync($"torchferry: prepare-inputs: {uri}: not removed ({e.Message})").ConfigureAwait(false);
            }
        }
    }

    /// <summary>Converts <paramref name="source"/> into its variant location and checks it as the operator's would be; the variant URI, or null (reason printed).</summary>
    private async Task<string?> ConvertHereAsync(StorageUri source, TorchDevice device, TimeSpan budget, CancellationToken cancellationToken)
    {
        if (budget <= TimeSpan.Zero)
        {
            await log.WriteLineAsync($"torchferry: prepare-inputs: no time left to convert {source}; passing it on unchanged").ConfigureAwait(false);
            return null;
        }

        using var within = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        within.CancelAfter(budget);
        try
        {
            var variant = layout.For(source, device.Name);
            await converter.ConvertAsync(source, variant, DeviceMap.Create(device.Name), overwrite: true, cancellationToken: within.Token).ConfigureAwait(false);
            return await ReadyVariantAsync(source, device.Name, within.Token).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // a blob that cannot be converted here is passed on as it is
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
#pragma warning restore CA1031
        {
            var why = within.IsCancellationRequested ? $"not converted within {budget.TotalSeconds:0} s" : e.Message;
            await log.WriteLineAsync($"torchferry: prepare-inputs: {source}: {why}; passing it on unchanged").ConfigureAwait(false);
            return null;
        }
    }

    /// <summary>The URI to use on <paramref name="device"/>: the source if it is already there, its verified variant, or null.</summary>
    private async Task<string?> ReadyVariantAsync(StorageUri source, string device, CancellationToken cancellationToken)
    {
        var (sourceArchive, sourceHandle) = await converter.OpenArchiveAsync(source, cancellationToken).ConfigureAwait(false);
        using (sourceHandle)
        {
            if (sourceArchive.IsEntirelyOn(device))
            {
                return source.ToUriString();
            }

            var variant = layout.For(source, device);
            try
            {
                var (variantArchive, variantHandle) = await converter.OpenArchiveAsync(variant, cancellationToken).ConfigureAwait(false);
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
    private async Task WriteAsync(StorageUri target, byte[] bytes, CancellationToken cancellationToken)
    {
        await using var writer = await stores.For(target).CreateWriterAsync(target, cancellationToken).ConfigureAwait(false);
        await writer.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }
}
