namespace TorchFerry.Format.Pickle;

/// <summary>
/// Turns the user objects of a pickle into the plain values they hold, so that the file loads
/// under <c>torch.load(weights_only=True)</c>: an object with a <c>__dict__</c> (a dataclass, a plain
/// class) becomes that dict, a NamedTuple the tuple of its values, a dict or list subclass a plain
/// dict or list. Only the opcodes that make each object change (its class, NEWOBJ, BUILD); every
/// value inside stays byte for byte. What cannot be turned into plain values without losing data
/// (a whole <c>nn.Module</c>, an object that contains itself, a call of a function torch does not
/// allow) is refused with the reason, and the result is checked against the allowlist before it is
/// used.
/// </summary>
internal static class WeightsOnlyRewriter
{
    private const byte EmptyDict = (byte)'}';
    private const byte EmptyList = (byte)']';
    private const byte EmptyTuple = (byte)')';

    /// <summary>The rewritten pickle, parsed, and what changed (one line per class).</summary>
    /// <exception cref="ArtifactFormatException">Kind Unsupported: the file cannot be made to load with weights_only; the message says why.</exception>
    public static (PickleDocument Document, IReadOnlyList<string> Changes) Rewrite(PickleDocument document, WeightsOnlyAllowlist target, string name)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(target);
        var getsByPut = document.MemoGets.ToLookup(g => g.PutOp, g => g.GetOp);
        var putsByOrigin = document.MemoPuts.ToLookup(p => p.Value, p => p.Key);
        var buildsByInstance = document.Builds.ToLookup(b => b.Instance, b => b.BuildOp, ReferenceEqualityComparer.Instance);
        var replacements = new Dictionary<int, byte[]>();
        var removedPuts = new List<(int Put, string Class)>();
        var converted = new SortedDictionary<string, (string Into, int Count)>(StringComparer.Ordinal);

        foreach (var construction in document.Constructions)
        {
            var instance = construction.Instance;
            var className = instance.ClassName ?? "NEWOBJ";
            if (target.Globals.Contains(className))
            {
                continue;
            }

            var (into, replacement) = Plan(instance, buildsByInstance[instance].Count(), name, className);
            var classOp = document.Ops[construction.ClassOp];
            if (classOp.Code is not ((byte)'c' or (byte)'h' or (byte)'j'))
            {
                throw Refused(name, $"{className} is named by opcode 0x{classOp.Code:x2}, which weights-only conversion does not rewrite");
            }

            replacements[construction.ClassOp] = [];
            if (classOp.Code == (byte)'c')
            {
                removedPuts.AddRange(putsByOrigin[construction.ClassOp].Select(p => (p, className)));
                foreach (var put in putsByOrigin[construction.ClassOp])
                {
                    replacements[put] = [];
                }
            }

            if (into != "tuple")
            {
                RemoveEmptyArguments(document, construction.ArgsOp, name, className);
                replacements[construction.ArgsOp] = [];
            }

            replacements[construction.NewObjOp] = replacement;
            if (into == "dict" && instance.State is not null)
            {
                // The state dict becomes the object: the memo slots that held the object now take the
                // state once it is built, where BUILD was.
                var build = buildsByInstance[instance].Single();
                var puts = putsByOrigin[construction.NewObjOp].ToList();
                if (puts.SelectMany(p => getsByPut[p]).Any(g => g < build))
                {
                    throw Refused(name, $"an object of {className} contains itself, which a plain dict cannot");
                }

                replacements[build] = [.. puts.SelectMany(p => document.Bytes.AsSpan(document.Ops[p].Offset, document.Ops[p].Length).ToArray())];
                foreach (var put in puts)
                {
                    replacements[put] = [];
                }
            }

            converted[className] = (into, converted.TryGetValue(className, out var seen) ? seen.Count + 1 : 1);
        }

        // A class memoized where it was first named may only be read back to make more objects of it.
        foreach (var (put, className) in removedPuts)
        {
            if (getsByPut[put].Any(g => !replacements.ContainsKey(g)))
            {
                throw Refused(name, $"{className} is used as a value, not only to make objects, so it cannot be removed");
            }
        }

        var bytes = converted.Count == 0 ? document.Bytes : PickleRewriter.Splice(document, replacements);
        var result = PickleReader.Parse(bytes, name);
        if (target.Blockers(result) is { Count: > 0 } blockers)
        {
            throw Refused(name, $"still not loadable by torch {target.Torch}'s weights_only loader after turning objects into plain values: {string.Join(", ", blockers)}");
        }

        return (result, [.. converted.Select(c => $"{c.Key} → {c.Value.Into} ({c.Value.Count} {(c.Value.Count == 1 ? "object" : "objects")})")]);
    }

    // What an object becomes and what replaces its NEWOBJ: its state dict (NEWOBJ removed, the
    // dict built after it stays), the tuple it was made from, or an empty dict or list that its
    // SETITEMS or APPENDS then fill.
    private static (string Into, byte[] Replacement) Plan(PyInstance instance, int builds, string name, string className)
    {
        if (builds > 1)
        {
            throw Refused(name, $"an object of {className} has its state set twice");
        }

        var arguments = instance.Arguments as PyTuple ?? throw Refused(name, $"an object of {className} is made from a value that is not a tuple");
        var items = instance.DictItems.Count > 0 ? (instance.ListItems.Count > 0 ? "both" : "dict") : instance.ListItems.Count > 0 ? "list" : "none";
        switch (instance.State)
        {
            case PyDict state when state.Get("_parameters") is not null && state.Get("_modules") is not null:
                throw Refused(name, $"it holds a whole torch.nn.Module ({className}), which a plain dict would not replace: save its state_dict() instead");
            case PyDict state when state.Items.Any(i => i.Key is not PyString):
                throw Refused(name, $"an object of {className} has attributes that are not strings");
            case PyDict when arguments.Items.Length == 0 && items == "none":
                return ("dict", []);
            case null when arguments.Items.Length > 0 && items == "none":
                return ("tuple", []);
            case null when arguments.Items.Length == 0 && items is "none" or "dict":
                return ("dict", [EmptyDict]);
            case null when arguments.Items.Length == 0 && items == "list":
                return ("list", [EmptyList]);
            case PyDict:
                throw Refused(name, $"an object of {className} has both attributes and {(items == "list" ? "items" : "entries")} or arguments, which one plain value cannot hold");
            case null when arguments.Items.Length == 0:
                throw Refused(name, $"an object of {className} holds both entries and items, which one plain value cannot hold");
            case null:
                throw Refused(name, $"an object of {className} is made from arguments and also holds items");
            default:
                throw Refused(name, $"an object of {className} keeps its state in a form other than a dict (__slots__ or __getstate__)");
        }
    }

    // NEWOBJ with no arguments pushes an empty tuple that Python's pickler never memoizes; one that
    // was memoized (or came from elsewhere) cannot simply go.
    private static void RemoveEmptyArguments(PickleDocument document, int argsOp, string name, string className)
    {
        var op = document.Ops[argsOp];
        var next = argsOp + 1 < document.Ops.Length ? document.Ops[argsOp + 1].Code : (byte)0;
        if (op.Code != EmptyTuple || next is (byte)'q' or (byte)'r' or (byte)'p' or 0x94)
        {
            throw Refused(name, $"an object of {className} is made from arguments pushed in a way weights-only conversion does not rewrite");
        }
    }

    private static ArtifactFormatException Refused(string name, string why) =>
        new(FormatErrorKind.Unsupported, $"{name}: cannot be made loadable with torch.load(weights_only=True): {why}; nothing was converted");
}
