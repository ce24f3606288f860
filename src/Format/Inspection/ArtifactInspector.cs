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
    private const int MaxJsonDepth = 32;
    private const int MaxJsonNodes = 10_000;
    private const int MaxKeyDepth = 8;
    private const int MaxKeyLength = 256;
    private const int MaxPathLength = 4096;
    private const long MaxPathCharacters = 64L * 1024 * 1024;
    private const int MaxReferences = 300_000;

    // Python itself refuses to print integers beyond 4,300 decimal digits (about 14,284 bits).
    private const long MaxDecimalBits = 14_284;
    private const string ModuleStateKey = "module_state_dict";
    private const string OptimizerStateKey = "optimizer_state_dict";
    private static readonly string[] ModuleStateFields = ["_parameters", "_buffers", "_modules"];

    /// <summary>Describes <paramref name="archive"/>.</summary>
    /// <exception cref="ArtifactFormatException">The graph is beyond a bound, or sizes overflow.</exception>
    public static ArtifactDescription Describe(TorchArchive archive)
    {
        ArgumentNullException.ThrowIfNull(archive);
        try
        {
            return DescribeCore(archive);
        }
        catch (OverflowException e)
        {
            throw SizesOverflow(archive, e);
        }
    }

    private static ArtifactFormatException SizesOverflow(TorchArchive archive, OverflowException e) =>
        new(FormatErrorKind.LimitExceeded, $"{archive.Source.Name}: tensor sizes overflow 64 bits (crafted shapes)", e);

    private static ArtifactDescription DescribeCore(TorchArchive archive)
    {
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
            WeightsOnly = WeightsOnly(archive.Pickle),
            Totals = new ArtifactTotals(
                walker.Tensors.Count,
                storages.Count,
                storages.Sum(s => s.Bytes),
                walker.Tensors.Sum(t => t.Bytes),
                storages.GroupBy(s => s.Location, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal),
                walker.Tensors.GroupBy(t => t.Dtype, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal)),
        };
    }

    /// <summary>Each known release's weights_only verdict on <paramref name="pickle"/>, oldest first.</summary>
    internal static IReadOnlyList<WeightsOnlyVerdict> WeightsOnly(PickleDocument pickle) =>
        [.. WeightsOnlyAllowlist.All.Select(allowlist => Verdict(allowlist, allowlist.Blockers(pickle)))];

    private static WeightsOnlyVerdict Verdict(WeightsOnlyAllowlist allowlist, IReadOnlyList<string> blockers) =>
        new(allowlist.Torch, blockers.Count == 0, blockers);

    /// <summary>Tensors built by torch functions TorchFerry does not support, with their paths.</summary>
    internal static IReadOnlyList<UnsupportedTensor> FindUnsupported(TorchArchive archive)
    {
        var walker = new Walker(archive.Source.Name);
        try
        {
            walker.Walk(archive.Pickle.Root, string.Empty, 0);
        }
        catch (OverflowException e)
        {
            throw SizesOverflow(archive, e);
        }

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
        var budget = new JsonBudget();
        foreach (var (key, value) in DictItems(root)!)
        {
            if (key is PyString { Value: ModuleStateKey or OptimizerStateKey })
            {
                continue;
            }

            result[KeyText(key)] = ToJson(value, 0, budget);
        }

        return result;
    }

    // Bounded in depth and in nodes: a small pickle can describe a huge graph by sharing (a list of
    // itself twice, forty levels deep), and each path would otherwise be written out.
    private static JsonNode? ToJson(PyValue value, int depth, JsonBudget budget) => value switch
    {
        _ when !budget.Take() => JsonValue.Create("<truncated>"), // every node counts, a cut-off one too
        _ when depth > MaxJsonDepth => JsonValue.Create("<nested too deep>"),
        PyNone => null,
        PyBool b => JsonValue.Create(b.Value),
        PyInt i when i.Value >= long.MinValue && i.Value <= long.MaxValue => JsonValue.Create((long)i.Value),
        PyInt i => JsonValue.Create(IntegerText(i)),
        PyFloat f when double.IsFinite(f.Value) => JsonValue.Create(f.Value),
        PyFloat f => JsonValue.Create(f.Value.ToString(CultureInfo.InvariantCulture)),
        PyString s => JsonValue.Create(s.Value),
        PyBytes b => JsonValue.Create($"<bytes: {b.Value.Length}>"),
        PyTuple t => Array(t.Items, depth, budget),
        PyList l => Array(l.Items, depth, budget),
        PyDict d => Object(d.Items, depth, budget),
        PySet s => Array(s.Items, depth, budget),
        PyTensor t => JsonValue.Create($"<tensor {t.Dtype.Name}[{string.Join(", ", t.Shape)}]>"),
        PyInstance i when BuiltinCalls.BytesLength(i) is { } length => JsonValue.Create($"<bytes: {length}>"),
        PyInstance i when BuiltinCalls.SetItems(i) is { } items => Array(items, depth, budget),
        PyInstance { ClassName: { } name } => JsonValue.Create($"<{name}>"),
        PyGlobal g => JsonValue.Create($"<{g.FullName}>"), // a class or a dtype (torch.float16), named
        PyStorage { Storage: var s } => JsonValue.Create($"<storage {s.Dtype.Name}[{s.Numel}] on {s.Location}>"),
        PyUnsupportedTensor u => JsonValue.Create($"<tensor built by {u.Function}>"),
        _ => JsonValue.Create("<object>"),
    };

    // Containers stop at the budget: a list of a million references to itself is one truncated line.
    private static JsonArray Array(IReadOnlyList<PyValue> items, int depth, JsonBudget budget)
    {
        var result = new JsonArray();
        foreach (var item in items)
        {
            if (budget.Spent)
            {
                result.Add((JsonNode)JsonValue.Create("<truncated>"));
                break;
            }

            result.Add(ToJson(item, depth + 1, budget));
        }

        return result;
    }

    private static JsonObject Object(List<KeyValuePair<PyValue, PyValue>> items, int depth, JsonBudget budget)
    {
        var result = new JsonObject();
        foreach (var (key, value) in items)
        {
            if (budget.Spent)
            {
                result["..."] = "<truncated>";
                break;
            }

            result[KeyText(key)] = ToJson(value, depth + 1, budget); // a repeated key keeps the last value, as Python's dict does
        }

        return result;
    }

    /// <summary>An integer as decimal text, or a size summary where decimal conversion would be slow (quadratic).</summary>
    internal static string IntegerText(PyInt value) =>
        value.Value.GetBitLength() <= MaxDecimalBits
            ? value.Value.ToString(CultureInfo.InvariantCulture)
            : $"<int of {value.Value.GetBitLength()} bits>";

    internal static List<KeyValuePair<PyValue, PyValue>>? DictItems(PyValue value) => value switch
    {
        PyDict dict => dict.Items,
        PyInstance { DictItems.Count: > 0 } instance => instance.DictItems,
        PyInstance { ClassName: "collections.OrderedDict" } instance => instance.DictItems,
        _ => null,
    };

    // Keys become path segments: bounded in nesting and length whatever the pickle holds (a tuple
    // key may share its items a million times over), written into one bounded buffer.
    private static string KeyText(PyValue key)
    {
        var text = new System.Text.StringBuilder();
        AppendKey(text, key, 0);
        return Shorten(text.ToString());
    }

    private static void AppendKey(System.Text.StringBuilder text, PyValue key, int depth)
    {
        if (text.Length > MaxKeyLength)
        {
            return;
        }

        switch (key)
        {
            case PyString s:
                text.Append(s.Value.Length > MaxKeyLength ? s.Value[..MaxKeyLength] : s.Value);
                break;
            case PyInt i:
                text.Append(IntegerText(i));
                break;
            case PyBool b:
                text.Append(b.Value ? "True" : "False");
                break;
            case PyNone:
                text.Append("None");
                break;
            case PyFloat f:
                text.Append(f.Value.ToString("R", CultureInfo.InvariantCulture));
                break;
            case PyTuple when depth >= MaxKeyDepth:
                text.Append("(...)");
                break;
            case PyTuple t:
                text.Append('(');
                for (var i = 0; i < t.Items.Length && text.Length <= MaxKeyLength; i++)
                {
                    if (i > 0)
                    {
                        text.Append(", ");
                    }

                    AppendKey(text, t.Items[i], depth + 1);
                }

                text.Append(')');
                break;
            default:
                text.Append('?');
                break;
        }
    }

    private static string Shorten(string text) => text.Length <= MaxKeyLength ? text : text[..MaxKeyLength] + "...";

    /// <summary>How many JSON nodes hyperparameters may take.</summary>
    private sealed class JsonBudget
    {
        private int left = MaxJsonNodes;

        public bool Spent => left <= 0;

        public bool Take() => left-- > 0;
    }

    /// <summary>
    /// Walks the object graph once: every container is expanded the first time it is reached, so
    /// the work is linear in the pickle whatever it shares (tied weights, a list of itself) and
    /// cycles end the walk of their branch. Tensors are listed at every path they are reached from
    /// directly (tied weights under each name). No recursion: the walk's stack is a list.
    /// </summary>
    private sealed class Walker(string source)
    {
        private readonly HashSet<PyValue> expanded = new(ReferenceEqualityComparer.Instance);
        private long pathCharacters;
        private int references;

        public List<TensorDescription> Tensors { get; } = [];

        public List<UnsupportedTensor> Unsupported { get; } = [];

        public void Walk(PyValue root, string rootPath, int rootDepth)
        {
            var pending = new Stack<(PyValue Value, string Path, int Depth)>();
            pending.Push((root, rootPath, rootDepth));
            var children = new List<(PyValue Value, string Path, int Depth)>();
            while (pending.TryPop(out var next))
            {
                var (value, path, depth) = next;
                if (depth > MaxDepth)
                {
                    throw new ArtifactFormatException(FormatErrorKind.LimitExceeded, $"{source}: object graph nests deeper than {MaxDepth} levels at '{Shorten(path)}'");
                }

                switch (value)
                {
                    case PyTensor tensor:
                        Tensors.Add(Describe(tensor, path));
                        continue;
                    case PyUnsupportedTensor unsupported:
                        Unsupported.Add(new UnsupportedTensor(path, unsupported.Function));
                        continue;
                    case PyDict or PyList or PyTuple or PySet or PyInstance when expanded.Add(value):
                        break;
                    default:
                        continue; // a scalar, or a container already walked (shared, or a cycle)
                }

                children.Clear();
                ChildrenOf(value, path, depth, children);
                for (var i = children.Count - 1; i >= 0; i--)
                {
                    // Every reference gets its path: bounded in total, since a memo read costs a byte.
                    pathCharacters += children[i].Path.Length;
                    if (pathCharacters > MaxPathCharacters)
                    {
                        throw new ArtifactFormatException(FormatErrorKind.LimitExceeded, $"{source}: the object graph names more than {MaxPathCharacters:N0} characters of paths");
                    }

                    pending.Push(children[i]); // reversed, so children are walked in order
                }
            }
        }

        private void ChildrenOf(PyValue value, string path, int depth, List<(PyValue, string, int)> children)
        {
            switch (value)
            {
                case PyDict dict:
                    Items(dict.Items, path, depth, children);
                    break;
                case PyList list:
                    List(list.Items, path, depth, children);
                    break;
                case PyTuple tuple:
                    List(tuple.Items, path, depth, children);
                    break;
                case PySet set:
                    List(set.Items, path, depth, children);
                    break;
                case PyInstance instance when BuiltinCalls.SetItems(instance) is { } items:
                    List(items, path, depth, children); // a set's items, as a PySet's
                    break;
                case PyInstance instance:
                    Items(instance.DictItems, path, depth, children);
                    List(instance.ListItems, path, depth, children);
                    if (instance.State is PyDict state && state.Get("_modules") is not null && state.Get("_parameters") is not null)
                    {
                        // nn.Module: parameters, buffers and child modules read as torch's state_dict names them.
                        foreach (var field in ModuleStateFields)
                        {
                            if (state.Get(field) is { } members)
                            {
                                children.Add((members, path, depth + 1));
                            }
                        }

                        Items(state.Items.Where(kv => kv.Key is not PyString { Value: "_parameters" or "_buffers" or "_modules" }), path, depth, children);
                    }
                    else if (instance.State is not null)
                    {
                        children.Add((instance.State, path, depth + 1));
                    }
                    else if (instance.DictItems.Count == 0 && instance.ListItems.Count == 0)
                    {
                        // An object rebuilt from its arguments alone (a namedtuple, say): its tensors live there.
                        children.Add((instance.Arguments, path, depth + 1));
                    }

                    break;
            }
        }

        // Only what can hold or be a tensor gets a path: a list of a million numbers costs no strings.
        private void Items(IEnumerable<KeyValuePair<PyValue, PyValue>> items, string path, int depth, List<(PyValue, string, int)> children)
        {
            Count(items.Count(kv => MayHoldTensors(kv.Value)));
            foreach (var (key, item) in items)
            {
                if (MayHoldTensors(item))
                {
                    children.Add((item, Join(path, KeyText(key)), depth + 1));
                }
            }
        }

        private void List(IReadOnlyList<PyValue> items, string path, int depth, List<(PyValue, string, int)> children)
        {
            Count(items.Count(MayHoldTensors));
            for (var i = 0; i < items.Count; i++)
            {
                if (MayHoldTensors(items[i]))
                {
                    children.Add((items[i], Join(path, i.ToString(CultureInfo.InvariantCulture)), depth + 1));
                }
            }
        }

        // Each reference to a container or tensor costs a path: a dict of a million memo reads of one
        // tensor is a million paths, so their number is bounded, not only their length. A container's
        // references are counted before any path is made: one too big costs no allocation at all.
        private void Count(int more)
        {
            references += more;
            if (references > MaxReferences)
            {
                throw new ArtifactFormatException(FormatErrorKind.LimitExceeded, $"{source}: the object graph holds more than {MaxReferences:N0} references to containers and tensors");
            }
        }

        private static bool MayHoldTensors(PyValue value) => value switch
        {
            PyTensor or PyUnsupportedTensor => true,
            PyDict dict => dict.Items.Count > 0,
            PyList list => list.Items.Count > 0,
            PyTuple tuple => tuple.Items.Length > 0,
            PySet set => set.Items.Count > 0,
            // Protocol 2's set([]) and bytes() calls are empty values, as EMPTY_SET and b'' are at 4.
            PyInstance instance => BuiltinCalls.SetItems(instance) is not { Count: 0 } && BuiltinCalls.BytesLength(instance) is null,
            _ => false,
        };

        // Paths stay bounded however deep the graph nests; a truncated one ends in "...".
        private static string Join(string path, string key) =>
            path.Length == 0 ? key
            : path.Length >= MaxPathLength ? (path.EndsWith("...", StringComparison.Ordinal) ? path : path + "...")
            : path + "." + key;

        private static TensorDescription Describe(PyTensor tensor, string path)
        {
            long numel = 1;
            foreach (var dimension in tensor.Shape)
            {
                numel = checked(numel * dimension); // a shape no storage holds overflows: refused below
            }

            return new TensorDescription(
                path, tensor.Dtype.Name, tensor.Shape, tensor.Stride, tensor.Storage.Key, tensor.StorageOffset,
                tensor.Storage.Location, checked(numel * tensor.Dtype.ElementSize), tensor.RequiresGrad, tensor.IsParameter);
        }
    }
}
