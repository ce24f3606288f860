using System.Globalization;
using System.Text.Json.Nodes;
using TorchFerry.Format.Archive;
using TorchFerry.Format.Pickle;

namespace TorchFerry.Format.Inspection;

/// <summary>
/// Describes an archive from its pickle alone: kind, every tensor with its dotted path, the
/// storages and the totals. Paths follow what torch users see: dict keys and list indexes, and for
/// a whole module its <c>_parameters</c>, <c>_buffers</c> and <c>_modules</c> (e.g. <c>fc1.weight</c>).
/// </summary>
public static class ArtifactInspector
{
    private const int MaxDepth = 512;
    private const string ModuleStateKey = "module_state_dict";
    private const string OptimizerStateKey = "optimizer_state_dict";
    private static readonly string[] ModuleStateFields = ["_parameters", "_buffers", "_modules"];

    /// <summary>Describes <paramref name="archive"/>.</summary>
    public static ArtifactDescription Describe(TorchArchive archive)
    {
        ArgumentNullException.ThrowIfNull(archive);
        var walker = new Walker(archive.Source.Name);
        var root = archive.Pickle.Root;
        walker.Walk(root, string.Empty, 0);

        var kind = KindOf(root);
        var perStorage = walker.Tensors.GroupBy(t => t.StorageKey).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var storages = archive.Pickle.Storages.Values.Select(s =>
        {
            var record = archive.RecordOf(s);
            return new StorageDescription(
                s.Key, s.StorageType, s.Dtype.Name, s.Location, s.Numel, s.ByteLength, record.Name,
                record.Method == ZipEntry.Deflated, perStorage.GetValueOrDefault(s.Key));
        }).ToList();

        return new ArtifactDescription
        {
            Source = archive.Source.Name,
            SizeBytes = archive.Source.Length,
            Root = archive.Root,
            PickleProtocol = archive.Pickle.Protocol,
            Kind = kind,
            ModuleClass = kind == ArtifactKind.Module ? ((PyInstance)root).ClassName : null,
            Hyperparameters = kind == ArtifactKind.Checkpoint ? Hyperparameters(root) : null,
            Tensors = walker.Tensors,
            Storages = storages,
            Unsupported = walker.Unsupported,
            Totals = new ArtifactTotals(
                walker.Tensors.Count,
                storages.Count,
                storages.Sum(s => s.Bytes),
                walker.Tensors.Sum(t => t.Bytes),
                storages.GroupBy(s => s.Location, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal),
                walker.Tensors.GroupBy(t => t.Dtype, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal)),
        };
    }

    /// <summary>Tensors built by torch functions TorchFerry does not support, with their paths.</summary>
    internal static IReadOnlyList<UnsupportedTensor> FindUnsupported(TorchArchive archive)
    {
        var walker = new Walker(archive.Source.Name);
        walker.Walk(archive.Pickle.Root, string.Empty, 0);
        return walker.Unsupported;
    }

    private static ArtifactKind KindOf(PyValue root)
    {
        if (root is PyTensor)
        {
            return ArtifactKind.Tensor;
        }

        if (root is PyInstance { State: PyDict state } && state.Get("_modules") is not null && state.Get("_parameters") is not null)
        {
            return ArtifactKind.Module;
        }

        var items = DictItems(root);
        if (items is null)
        {
            return ArtifactKind.Other;
        }

        if (items.Any(kv => kv.Key is PyString { Value: ModuleStateKey or OptimizerStateKey }))
        {
            return ArtifactKind.Checkpoint;
        }

        return items.Count > 0 && items.All(kv => kv.Value is PyTensor) ? ArtifactKind.StateDict : ArtifactKind.Other;
    }

    private static JsonObject Hyperparameters(PyValue root)
    {
        var result = new JsonObject();
        foreach (var (key, value) in DictItems(root)!)
        {
            if (key is PyString { Value: ModuleStateKey or OptimizerStateKey })
            {
                continue;
            }

            result[KeyText(key)] = ToJson(value, 0);
        }

        return result;
    }

    private static JsonNode? ToJson(PyValue value, int depth) => value switch
    {
        _ when depth > 32 => JsonValue.Create("<nested too deep>"),
        PyNone => null,
        PyBool b => JsonValue.Create(b.Value),
        PyInt i when i.Value >= long.MinValue && i.Value <= long.MaxValue => JsonValue.Create((long)i.Value),
        PyInt i => JsonValue.Create(i.Value.ToString(CultureInfo.InvariantCulture)),
        PyFloat f when double.IsFinite(f.Value) => JsonValue.Create(f.Value),
        PyFloat f => JsonValue.Create(f.Value.ToString(CultureInfo.InvariantCulture)),
        PyString s => JsonValue.Create(s.Value),
        PyBytes b => JsonValue.Create($"<bytes: {b.Value.Length}>"),
        PyTuple t => new JsonArray(t.Items.Select(v => ToJson(v, depth + 1)).ToArray()),
        PyList l => new JsonArray(l.Items.Select(v => ToJson(v, depth + 1)).ToArray()),
        PyDict d => new JsonObject(d.Items.Select(kv => KeyValuePair.Create(KeyText(kv.Key), ToJson(kv.Value, depth + 1)))),
        PyTensor t => JsonValue.Create($"<tensor {t.Dtype.Name}[{string.Join(", ", t.Shape)}]>"),
        PyInstance { ClassName: { } name } => JsonValue.Create($"<{name}>"),
        _ => JsonValue.Create("<object>"),
    };

    internal static List<KeyValuePair<PyValue, PyValue>>? DictItems(PyValue value) => value switch
    {
        PyDict dict => dict.Items,
        PyInstance { DictItems.Count: > 0 } instance => instance.DictItems,
        PyInstance { ClassName: "collections.OrderedDict" } instance => instance.DictItems,
        _ => null,
    };

    private static string KeyText(PyValue key) => key switch
    {
        PyString s => s.Value,
        PyInt i => i.Value.ToString(CultureInfo.InvariantCulture),
        PyBool b => b.Value ? "True" : "False",
        PyNone => "None",
        PyFloat f => f.Value.ToString("R", CultureInfo.InvariantCulture),
        PyTuple t => "(" + string.Join(", ", t.Items.Select(KeyText)) + ")",
        _ => "?",
    };

    private sealed class Walker(string source)
    {
        private readonly HashSet<PyValue> onPath = new(ReferenceEqualityComparer.Instance);

        public List<TensorDescription> Tensors { get; } = [];

        public List<UnsupportedTensor> Unsupported { get; } = [];

        public void Walk(PyValue value, string path, int depth)
        {
            if (depth > MaxDepth)
            {
                throw new ArtifactFormatException(FormatErrorKind.LimitExceeded, $"{source}: object graph nests deeper than {MaxDepth} levels at '{path}'");
            }

            switch (value)
            {
                case PyTensor tensor:
                    Tensors.Add(Describe(tensor, path));
                    return;
                case PyUnsupportedTensor unsupported:
                    Unsupported.Add(new UnsupportedTensor(path, unsupported.Function));
                    return;
                case PyDict or PyList or PyTuple or PySet or PyInstance:
                    break;
                default:
                    return;
            }

            if (!onPath.Add(value))
            {
                return; // a cycle (a module that refers to its parent, say)
            }

            switch (value)
            {
                case PyDict dict:
                    WalkItems(dict.Items, path, depth);
                    break;
                case PyList list:
                    WalkList(list.Items, path, depth);
                    break;
                case PyTuple tuple:
                    WalkList(tuple.Items, path, depth);
                    break;
                case PySet set:
                    WalkList(set.Items, path, depth);
                    break;
                case PyInstance instance:
                    WalkInstance(instance, path, depth);
                    break;
            }

            onPath.Remove(value);
        }

        private void WalkInstance(PyInstance instance, string path, int depth)
        {
            WalkItems(instance.DictItems, path, depth);
            WalkList(instance.ListItems, path, depth);
            if (instance.State is PyDict state && state.Get("_modules") is not null && state.Get("_parameters") is not null)
            {
                // nn.Module: parameters, buffers and child modules read as torch's state_dict names them.
                foreach (var field in ModuleStateFields)
                {
                    if (state.Get(field) is { } members)
                    {
                        Walk(members, path, depth + 1);
                    }
                }

                WalkItems(state.Items.Where(kv => kv.Key is not PyString { Value: "_parameters" or "_buffers" or "_modules" }), path, depth);
            }
            else if (instance.State is not null)
            {
                Walk(instance.State, path, depth + 1);
            }
            else if (instance.DictItems.Count == 0 && instance.ListItems.Count == 0)
            {
                // An object rebuilt from its arguments alone (a namedtuple, say): its tensors live there.
                Walk(instance.Arguments, path, depth + 1);
            }
        }

        private void WalkItems(IEnumerable<KeyValuePair<PyValue, PyValue>> items, string path, int depth)
        {
            foreach (var (key, item) in items)
            {
                Walk(item, Join(path, KeyText(key)), depth + 1);
            }
        }

        private void WalkList(IReadOnlyList<PyValue> items, string path, int depth)
        {
            for (var i = 0; i < items.Count; i++)
            {
                Walk(items[i], Join(path, i.ToString(CultureInfo.InvariantCulture)), depth + 1);
            }
        }

        private static string Join(string path, string key) => path.Length == 0 ? key : path + "." + key;

        private static TensorDescription Describe(PyTensor tensor, string path)
        {
            long numel = 1;
            foreach (var dimension in tensor.Shape)
            {
                numel *= dimension;
            }

            return new TensorDescription(
                path, tensor.Dtype.Name, tensor.Shape, tensor.Stride, tensor.Storage.Key, tensor.StorageOffset,
                tensor.Storage.Location, numel * tensor.Dtype.ElementSize, tensor.RequiresGrad, tensor.IsParameter);
        }
    }
}
