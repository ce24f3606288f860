using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace TorchFerry.Format.Pickle;

/// <summary>
/// Parses a pickle (protocols 0 to 5) into a symbolic graph without executing anything. Globals
/// stay names; calls stay records. Torch's tensor rebuild functions and storage persistent ids
/// are recognised; globals that would run code when loaded are refused.
/// </summary>
internal sealed class PickleReader
{
    /// <summary>Most values one pickle may push (objects, or references to cached small ones); a state dict takes about ten a tensor.</summary>
    public const int MaxObjects = 1_000_000;
    /// <summary>Most values pushed, memo reads included (a state dict pushes about 25 a tensor: 100,000 tensors fit).</summary>
    public const int MaxPushes = 3_000_000;
    /// <summary>
    /// Most opcodes: pickles written by torch.save hold one or two for every value pushed, but
    /// opcodes that push nothing (MARK and POP_MARK, PROTO, PUT) cost a byte or two each and would
    /// otherwise grow the opcode table with nothing else to stop them.
    /// </summary>
    public const int MaxOps = 2 * MaxPushes;
    /// <summary>
    /// Most memo writes: Python's pickler memoizes each object once (at most <see cref="MaxObjects"/>),
    /// and TorchFerry's own rewrite pads with a few more writes of the root.
    /// </summary>
    public const int MaxPuts = MaxObjects + 64;
    private const int MaxMarks = 100_000;
    private const long MaxHashCost = 10_000_000;
    private const int MaxNameLength = 512;
    private const int MaxSearchedContainers = 4096;
    private const long MaxSearchedInAll = 10_000_000;
    private const int MaxDecimalDigits = 4300;
    private static readonly PyBool True = new(true);
    private static readonly PyBool False = new(false);
    private static readonly PyInt[] SmallInts = Enumerable.Range(0, 256).Select(i => new PyInt(i)).ToArray();
    private readonly byte[] data;
    private readonly string name;
    private readonly List<(PyValue Value, int Op)> stack = [];
    private readonly List<int> marks = [];
    private readonly Dictionary<long, (PyValue Value, int PutOp)> memo = [];
    private readonly OpTable ops;
    private long frameEnd;
    private readonly Dictionary<PyTuple, int[]> tupleOrigins = new(ReferenceEqualityComparer.Instance);
    private readonly List<LocationSlot> locationSlots = [];
    private readonly Dictionary<string, StorageReference> storages = new(StringComparer.Ordinal);
    private readonly List<(int GetOp, int PutOp)> memoGets = [];
    private readonly Dictionary<int, int> memoPuts = [];
    private readonly HashSet<PyString> locationStrings = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<PyString> readStrings = new(ReferenceEqualityComparer.Instance);
    private readonly HashSet<string> globals = new(StringComparer.Ordinal);
    private readonly List<Construction> constructions = [];
    private readonly List<(int BuildOp, PyInstance Instance)> builds = [];
    private int pos;
    private int protocol;
    private int objects;
    private int pushes;
    private int puts;
    private long searchedInAll;
    private readonly Dictionary<PyValue, long> hashCosts = new(ReferenceEqualityComparer.Instance);
    private readonly List<(PyValue Value, int Op)> scratch = [];

    private PickleReader(byte[] data, string name)
    {
        this.data = data;
        this.name = name;
        ops = new OpTable(data);
    }

    /// <summary>Parses <paramref name="data"/>; <paramref name="name"/> names it in errors.</summary>
    /// <exception cref="ArtifactFormatException">The pickle is malformed, beyond a limit, or would run code.</exception>
    public static PickleDocument Parse(byte[] data, string name, CancellationToken cancellationToken = default)
    {
        var reader = new PickleReader(data, name);
        PyValue root;
        try
        {
            root = reader.Run(cancellationToken);
        }
        catch (Exception e) when (e is OverflowException or FormatException or ArgumentException or InvalidCastException)
        {
            // A value the format allows but no torch.save writes (a length or number out of any range): still one line.
            throw reader.Corrupt($"{e.GetType().Name}: {e.Message}");
        }

        return new PickleDocument(data, root, reader.protocol, reader.ops.Seal(reader.pos), reader.locationSlots, reader.storages, reader.memoGets, reader.memoPuts)
        {
            Globals = reader.globals,
            Constructions = reader.constructions,
            Builds = reader.builds,
        };
    }

    private PyValue Run(CancellationToken cancellationToken)
    {
        while (true)
        {
            if ((ops.Length & 0xFFFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            if (ops.Length >= MaxOps)
            {
                throw Refused(FormatErrorKind.LimitExceeded, $"the pickle holds more than {MaxOps:N0} opcodes");
            }

            if (pos >= data.Length)
            {
                throw Corrupt("pickle ends without STOP (truncated?)");
            }

            var start = pos;
            var code = data[pos++];
            var opIndex = ops.Length;
            switch (code)
            {
                case 0x80: // PROTO
                    protocol = ReadByte();
                    if (protocol > 5)
                    {
                        throw Corrupt($"pickle protocol {protocol} is newer than 5");
                    }

                    break;
                case 0x95: // FRAME
                    {
                        // Frames follow one another (Python refuses one that starts inside another);
                        // the rewriter relies on it to recount them in one pass.
                        if (start < frameEnd)
                        {
                            throw Corrupt("a frame starts before the previous one ends");
                        }

                        var length = ReadUInt64();
                        frameEnd = length > (ulong)(data.Length - pos) ? data.Length : pos + (long)length;
                        break;
                    }

                case (byte)'.': // STOP
                    ops.Add(start);
                    if (stack.Count != 1 || marks.Count != 0)
                    {
                        throw Corrupt("pickle stops with a malformed stack");
                    }

                    return stack[0].Value;
                case (byte)'(':
                    if (marks.Count >= MaxMarks)
                    {
                        throw Refused(FormatErrorKind.LimitExceeded, $"more than {MaxMarks:N0} open marks");
                    }

                    marks.Add(stack.Count);
                    break;
                case (byte)'0': // POP
                    Pop();
                    break;
                case (byte)'1': // POP_MARK
                    PopMark();
                    break;
                case (byte)'2': // DUP
                    PushExisting(Peek().Value, opIndex);
                    break;
                case (byte)'N':
                    Push(PyNone.Instance, opIndex);
                    break;
                case 0x88:
                    Push(True, opIndex);
                    break;
                case 0x89:
                    Push(False, opIndex);
                    break;
                case (byte)'J': // BININT
                    Push(new PyInt(BinaryPrimitives.ReadInt32LittleEndian(Take(4))), opIndex);
                    break;
                case (byte)'K': // BININT1
                    Push(SmallInts[ReadByte()], opIndex);
                    break;
                case (byte)'M': // BININT2
                    Push(new PyInt(BinaryPrimitives.ReadUInt16LittleEndian(Take(2))), opIndex);
                    break;
                case 0x8a: // LONG1
                    Push(new PyInt(new BigInteger(Take(ReadByte()), isUnsigned: false, isBigEndian: false)), opIndex);
                    break;
                case 0x8b: // LONG4
                    Push(new PyInt(new BigInteger(Take(ReadLength32()), isUnsigned: false, isBigEndian: false)), opIndex);
                    break;
                case (byte)'I': // INT (protocol 0; "01"/"00" are bools)
                    {
                        var text = ReadLine();
                        Push(
                            text switch
                            {
                                "01" => True,
                                "00" => False,
                                _ => new PyInt(ParseInteger(text)),
                            },
                            opIndex);
                        break;
                    }

                case (byte)'L': // LONG (protocol 0)
                    Push(new PyInt(ParseInteger(ReadLine().TrimEnd('L'))), opIndex);
                    break;
                case (byte)'G': // BINFLOAT
                    Push(new PyFloat(BinaryPrimitives.ReadDoubleBigEndian(Take(8))), opIndex);
                    break;
                case (byte)'F': // FLOAT
                    {
                        var text = ReadLine();
                        Push(ParseFloat(text) is { } number ? new PyFloat(number) : throw Corrupt($"FLOAT '{InputText.Printable(text)}' is not a number"), opIndex);
                    }

                    break;
                case (byte)'X': // BINUNICODE
                    Push(new PyString(Utf8(Take(ReadLength32()))), opIndex);
                    break;
                case 0x8c: // SHORT_BINUNICODE
                    Push(new PyString(Utf8(Take(ReadByte()))), opIndex);
                    break;
                case 0x8d: // BINUNICODE8
                    Push(new PyString(Utf8(Take(ReadLength64()))), opIndex);
                    break;
                case (byte)'V': // UNICODE (raw-unicode-escape)
                    {
                        var line = ReadLineBytes();
                        Push(new PyString(PythonText.RawUnicodeEscape(line) ?? throw Corrupt($"UNICODE '{InputText.Printable(Encoding.Latin1.GetString(line))}' has a bad \\u escape")), opIndex);
                        break;
                    }

                case (byte)'S': // STRING (quoted Python 2 literal)
                    {
                        var line = ReadLineBytes();
                        Push(new PyString(PythonText.QuotedLiteral(line) ?? throw Corrupt($"STRING '{InputText.Printable(Encoding.Latin1.GetString(line))}' is not a quoted UTF-8 literal")), opIndex);
                        break;
                    }

                // Python 2 strings: torch.load decodes them as UTF-8.
                case (byte)'T': // BINSTRING
                    Push(new PyString(Utf8(Take(ReadLength32()))), opIndex);
                    break;
                case (byte)'U': // SHORT_BINSTRING
                    Push(new PyString(Utf8(Take(ReadByte()))), opIndex);
                    break;
                case (byte)'B': // BINBYTES
                    Push(new PyBytes(Take(ReadLength32()).ToArray()), opIndex);
                    break;
                case (byte)'C': // SHORT_BINBYTES
                    Push(new PyBytes(Take(ReadByte()).ToArray()), opIndex);
                    break;
                case 0x8e: // BINBYTES8
                case 0x96: // BYTEARRAY8
                    Push(new PyBytes(Take(ReadLength64()).ToArray()), opIndex);
                    break;
                case 0x97:
                case 0x98:
                    throw Refused(FormatErrorKind.Unsupported, "out-of-band pickle buffers (protocol 5 NEXT_BUFFER) are not used by torch.save and are not supported");
                case (byte)')':
                    PushTuple([], [], opIndex);
                    break;
                case 0x85:
                case 0x86:
                case 0x87:
                    {
                        var n = code - 0x84;
                        var items = PopN(n);
                        PushTuple(items.Select(i => i.Value).ToArray(), items.Select(i => i.Op).ToArray(), opIndex);
                        break;
                    }

                case (byte)'t': // TUPLE
                    {
                        var items = PopMark();
                        PushTuple(items.Select(i => i.Value).ToArray(), items.Select(i => i.Op).ToArray(), opIndex);
                        break;
                    }

                case (byte)']':
                    Push(new PyList(), opIndex);
                    break;
                case (byte)'l': // LIST
                    {
                        var list = new PyList();
                        list.Items.AddRange(PopMark().Select(i => i.Value));
                        Push(list, opIndex);
                        break;
                    }

                case (byte)'}':
                    Push(new PyDict(), opIndex);
                    break;
                case (byte)'d': // DICT
                    {
                        var dict = new PyDict();
                        AddPairs(dict.Items, PopMark());
                        Push(dict, opIndex);
                        break;
                    }

                case 0x8f:
                    Push(new PySet(), opIndex);
                    break;
                case 0x91: // FROZENSET
                    {
                        var set = new PySet { IsFrozen = true };
                        set.Items.AddRange(PopMark().Select(i => i.Value));
                        set.Items.ForEach(CheckHashable);
                        Push(set, opIndex);
                        break;
                    }

                case 0x90: // ADDITEMS
                    {
                        var items = PopMark();
                        switch (Peek().Value)
                        {
                            case PySet { IsFrozen: true }:
                                throw Corrupt("ADDITEMS into a frozenset, which cannot grow (torch.load fails on it)");
                            case PySet set:
                                items.ForEach(i => CheckHashable(i.Value));
                                set.Items.AddRange(items.Select(i => i.Value));
                                break;
                        }

                        break;
                    }

                case (byte)'a': // APPEND
                    {
                        var item = Pop();
                        AppendTo(Peek().Value, [item]);
                        break;
                    }

                case (byte)'e': // APPENDS
                    {
                        var items = PopMark();
                        AppendTo(Peek().Value, items);
                        break;
                    }

                case (byte)'s': // SETITEM
                    {
                        var items = PopN(2);
                        SetItems(Peek().Value, items);
                        break;
                    }

                case (byte)'u': // SETITEMS
                    {
                        var items = PopMark();
                        SetItems(Peek().Value, items);
                        break;
                    }

                case (byte)'c': // GLOBAL
                    {
                        var module = ReadLine();
                        var global = ReadLine();
                        Push(MakeGlobal(module, global), opIndex);
                        break;
                    }

                case 0x93: // STACK_GLOBAL
                    {
                        var items = PopN(2);
                        if (items[0].Value is not PyString module || items[1].Value is not PyString global)
                        {
                            throw Corrupt("STACK_GLOBAL needs two strings");
                        }

                        Push(MakeGlobal(module.Value, global.Value), opIndex);
                        break;
                    }

                case (byte)'R': // REDUCE
                    {
                        var args = Pop();
                        var callable = Pop();
                        Push(TorchRebuild.Reduce(Callable(callable.Value, args.Value), args.Value, name), opIndex);
                        break;
                    }

                case 0x81: // NEWOBJ: cls.__new__(cls, *args), no __init__
                    {
                        var args = Pop();
                        var cls = Pop();
                        var instance = new PyInstance(Class(cls.Value), args.Value) { IsConstructed = true };
                        constructions.Add(new Construction(opIndex, cls.Op, args.Op, instance));
                        Push(instance, opIndex);
                        break;
                    }

                case 0x92: // NEWOBJ_EX
                    {
                        var items = PopN(3);
                        Push(new PyInstance(Class(items[0].Value), items[1].Value) { IsConstructed = true }, opIndex);
                        break;
                    }

                case (byte)'i': // INST: cls(*args)
                    {
                        var cls = MakeGlobal(ReadLine(), ReadLine());
                        var args = new PyTuple(PopMark().Select(i => i.Value).ToArray());
                        Push(new PyInstance(Callable(cls, args), args), opIndex);
                        break;
                    }

                case (byte)'o': // OBJ: cls(*args)
                    {
                        var items = PopMark();
                        if (items.Count == 0)
                        {
                            throw Corrupt("OBJ without a class");
                        }

                        var args = new PyTuple(items.Skip(1).Select(i => i.Value).ToArray());
                        Push(new PyInstance(Callable(items[0].Value, args), args), opIndex);
                        break;
                    }

                case (byte)'b': // BUILD
                    {
                        // Python sets the state on whatever is below: on a module or a class that would
                        // rewrite names other calls then use. Only objects get state.
                        var state = Pop();
                        switch (Peek().Value)
                        {
                            case PyInstance instance:
                                instance.State = state.Value;
                                builds.Add((opIndex, instance));
                                break;
                            case PyTensor or PyUnsupportedTensor:
                                break;
                            default:
                                throw Unsafe("sets attributes of something that is not an object (a module or a class)");
                        }

                        break;
                    }

                case (byte)'Q': // BINPERSID
                    {
                        var pid = Pop();
                        Push(PersistentLoad(pid), opIndex);
                        break;
                    }

                case (byte)'P': // PERSID
                    throw Corrupt($"text persistent id '{ReadLine()}' is not a torch storage reference");
                case 0x82:
                case 0x83:
                case 0x84:
                    throw Refused(FormatErrorKind.Unsupported, "pickle uses the copyreg extension registry (EXT opcodes), which torch.save never writes");
                case (byte)'p': // PUT
                    Put(MemoIndex(ReadLine()), opIndex);
                    break;
                case (byte)'q': // BINPUT
                    Put(ReadByte(), opIndex);
                    break;
                case (byte)'r': // LONG_BINPUT
                    Put(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)), opIndex);
                    break;
                case 0x94: // MEMOIZE
                    Put(memo.Count, opIndex);
                    break;
                case (byte)'g': // GET
                    Get(MemoIndex(ReadLine()), opIndex);
                    break;
                case (byte)'h': // BINGET
                    Get(ReadByte(), opIndex);
                    break;
                case (byte)'j': // LONG_BINGET
                    Get(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)), opIndex);
                    break;
                default:
                    throw Corrupt($"unknown pickle opcode 0x{code:x2}");
            }

            ops.Add(start);
        }
    }

    private PyStorage PersistentLoad((PyValue Value, int Op) pid)
    {
        if (pid.Value is not PyTuple tuple || tuple.Items.Length < 1 || tuple.Items[0] is not PyString { Value: "storage" })
        {
            throw Corrupt("a persistent id is not a torch storage reference ('storage', type, key, location, numel)");
        }

        if (tuple.Items.Length != 5
            || tuple.Items[1] is not PyGlobal storageClass
            || tuple.Items[2] is not PyString key
            || tuple.Items[3] is not PyString location
            || tuple.Items[4] is not PyInt numel)
        {
            throw Corrupt("a storage persistent id is not of the form ('storage', type, key, location, numel)");
        }

        var dtype = TorchDtype.FromStorageClass(storageClass.Module, storageClass.Name)
            ?? throw Corrupt($"storage '{InputText.Printable(key.Value)}' has unknown storage class {InputText.Printable(storageClass.FullName)}");
        if (numel.Value < 0 || numel.Value > long.MaxValue / 16)
        {
            throw Corrupt($"storage '{InputText.Printable(key.Value)}' has an impossible element count {numel.Value}");
        }

        if (!tupleOrigins.TryGetValue(tuple, out var origins))
        {
            throw Corrupt("a storage persistent id was not built by a tuple opcode");
        }

        FollowLocation(location, origins[3]);
        locationSlots.Add(new LocationSlot(origins[3], location.Value));
        if (!storages.TryGetValue(key.Value, out var storage))
        {
            storage = new StorageReference(key.Value, storageClass.FullName, dtype, location.Value, (long)numel.Value);
            storages.Add(key.Value, storage);
        }

        return new PyStorage(storage);
    }

    // The rewriter must know every memo read of a location string. Recording every string read would
    // cost eight bytes for each (a million reads of one dict key are a few megabytes), so only reads of
    // strings already named as locations are recorded; torch.save names a location (a literal in the
    // storage's persistent id) before any read of it. A location that is itself a read is linked here.
    private void FollowLocation(PyString location, int op)
    {
        var offset = ops.OffsetOf(op);
        if (PickleOp.IsStringLiteral(data[offset]))
        {
            if (!locationStrings.Contains(location) && readStrings.Contains(location))
            {
                // Read back inside its own persistent id: torch.save never does, and those reads were not recorded.
                throw Refused(FormatErrorKind.Unsupported, $"storage location '{InputText.Printable(location.Value)}' is read from the memo before its storage is named; TorchFerry cannot rewrite it");
            }
        }
        else if (!locationStrings.Contains(location))
        {
            // A read of a string first memoized elsewhere (a config value the same object as the location).
            var entry = memo.TryGetValue(MemoIndexAt(offset), out var read) ? read : default;
            if (!ReferenceEquals(entry.Value, location))
            {
                throw Refused(FormatErrorKind.Unsupported, $"storage location '{InputText.Printable(location.Value)}' comes from a memo slot written again before its storage is named; TorchFerry cannot rewrite it");
            }

            memoGets.Add((op, entry.PutOp));
        }

        locationStrings.Add(location);
    }

    // The memo slot a GET opcode (already read once, so well-formed) at offset reads.
    private long MemoIndexAt(int offset) => data[offset] switch
    {
        (byte)'h' => data[offset + 1],
        (byte)'j' => BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(offset + 1, 4)),
        (byte)'g' => MemoIndex(Encoding.UTF8.GetString(data, offset + 1, Array.IndexOf(data, (byte)'\n', offset + 1) - offset - 1)),
        _ => throw Corrupt($"a storage location comes from opcode 0x{data[offset]:x2}, which cannot supply one"),
    };

    private PyGlobal MakeGlobal(string module, string global)
    {
        if (module.Length > MaxNameLength || global.Length > MaxNameLength)
        {
            throw Unsafe($"names a global of {Math.Max(module.Length, global.Length)} characters");
        }

        if (GlobalPolicy.RefusalOfName(module, global) is { } why)
        {
            throw Unsafe($"refers to {InputText.Printable(module)}.{InputText.Printable(global)}, {why}");
        }

        globals.Add(module + "." + global);
        return new PyGlobal(module, global);
    }

    // What loading would call: only names on the allowlist (GlobalPolicy), with the arguments that keep them harmless.
    private PyGlobal Callable(PyValue callable, PyValue args)
    {
        if (callable is not PyGlobal global)
        {
            throw Unsafe("calls a value that is not a plain name (the result of another call, say)");
        }

        if (!GlobalPolicy.MayCall(global))
        {
            throw Unsafe($"calls {InputText.Printable(global.FullName)}, which is not on TorchFerry's allowlist of what torch.save writes");
        }

        // Plain constructors iterate or convert their arguments (set(iterable), OrderedDict(pairs),
        // complex(x)): an object made by NEWOBJ there could be a lazy map of a function over data,
        // called as it is iterated. Torch's rebuild functions only store theirs.
        if (!GlobalPolicy.IsTorchRebuild(global) && FindConstructed(args, global) is { } constructed)
        {
            throw Unsafe($"passes an object made by {InputText.Printable(constructed.ClassName ?? "NEWOBJ")} to {InputText.Printable(global.FullName)}, which would iterate or convert it");
        }

        // defaultdict(factory) calls its factory for every missing key: only a plain type may be one.
        if (global.FullName == "collections.defaultdict"
            && args is PyTuple { Items: [var factory, ..] } && factory is not PyNone && !(factory is PyGlobal type && GlobalPolicy.IsPlainType(type)))
        {
            throw Unsafe("makes a collections.defaultdict whose factory is not a plain type (it is called for every missing key)");
        }

        // copyreg._reconstructor(cls, base, state) calls base.__init__: only object's is harmless.
        if (global.FullName == "copyreg._reconstructor"
            && (args is not PyTuple { Items: [PyGlobal, PyGlobal { Module: "builtins" or "__builtin__", Name: "object" }, ..] } tuple || tuple.Items.Length != 3))
        {
            throw Unsafe("calls copyreg._reconstructor with a base other than object");
        }

        return global;
    }

    // What NEWOBJ instantiates without calling __init__: a user's class (a module, an optimizer, a
    // dataclass) by name, symbolically; never the standard library's or numpy's, whose __new__ may
    // open files (numpy.memmap) or make lazy calls (itertools.starmap, map).
    private PyGlobal Class(PyValue cls) =>
        cls is not PyGlobal global ? throw Unsafe("instantiates a value that is not a class name")
        : GlobalPolicy.RefusalOfInstantiation(global) is { } why ? throw Unsafe($"instantiates {InputText.Printable(global.FullName)}, {why}")
        : global;

    // A NEWOBJ-made object anywhere in a call's arguments. Each container is searched once a call,
    // scalars not at all. Past a bound the pickle is refused rather than passed unsearched.
    private PyInstance? FindConstructed(PyValue args, PyGlobal callee)
    {
        var pending = new Queue<PyValue>();
        var seen = new HashSet<PyValue>(ReferenceEqualityComparer.Instance);
        Enqueue(args);
        while (pending.TryDequeue(out var value))
        {
            switch (value)
            {
                case PyInstance { IsConstructed: true } instance:
                    return instance;
                case PyInstance instance:
                    Enqueue(instance.Arguments);
                    break;
                case PyTuple tuple:
                    Array.ForEach(tuple.Items, Enqueue);
                    break;
                case PyList list:
                    list.Items.ForEach(Enqueue);
                    break;
                case PySet set:
                    set.Items.ForEach(Enqueue);
                    break;
                case PyDict dict:
                    dict.Items.ForEach(kv => { Enqueue(kv.Key); Enqueue(kv.Value); });
                    break;
            }
        }

        return null;

        void Enqueue(PyValue value)
        {
            if (value is PyInstance or PyTuple or PyList or PySet or PyDict && seen.Add(value))
            {
                if (seen.Count > MaxSearchedContainers)
                {
                    throw Refused(FormatErrorKind.LimitExceeded, $"the arguments of a call to {InputText.Printable(callee.FullName)} hold more than {MaxSearchedContainers:N0} containers and objects, more than TorchFerry searches for objects the call would iterate");
                }

                // Many calls may pass one shared list: the searches are bounded in all, not only each.
                if (++searchedInAll > MaxSearchedInAll)
                {
                    throw Refused(FormatErrorKind.LimitExceeded, $"the pickle's calls pass more than {MaxSearchedInAll:N0} containers and objects in all to search for objects they would iterate");
                }

                pending.Enqueue(value);
            }
        }
    }

    private ArtifactFormatException Unsafe(string problem) =>
        new(FormatErrorKind.UnsafeGlobal, $"{name}: data.pkl {problem}; loading it would run code, so TorchFerry refuses to read or carry it");


    private void Put(long index, int opIndex)
    {
        if (!memo.ContainsKey(index) && memo.Count >= MaxObjects)
        {
            throw Refused(FormatErrorKind.LimitExceeded, $"the pickle memoizes more than {MaxObjects:N0} values");
        }

        // Writing one slot over and over costs two bytes a time and a record each for the rewriters.
        if (++puts > MaxPuts)
        {
            throw Refused(FormatErrorKind.LimitExceeded, $"the pickle writes the memo more than {MaxPuts:N0} times");
        }

        var top = Peek();
        memo[index] = (top.Value, opIndex);
        if (top.Value is PyString || Convertible(top.Value))
        {
            // The rewriters follow memoized strings (locations) and what weights-only conversion
            // removes (classes and the objects NEWOBJ made of them).
            memoPuts[opIndex] = top.Op;
        }
    }

    // What weights-only conversion may remove: classes outside torch's allowlist and the objects NEWOBJ
    // made of them. Torch's own globals (memoized and read back once per tensor) are not followed.
    private static bool Convertible(PyValue value) => value switch
    {
        PyGlobal global => !WeightsOnlyAllowlist.Newest.Globals.Contains(global.FullName),
        PyInstance { IsConstructed: true } instance => instance.ClassName is not { } name || !WeightsOnlyAllowlist.Newest.Globals.Contains(name),
        _ => false,
    };

    private void Get(long index, int opIndex)
    {
        if (!memo.TryGetValue(index, out var entry))
        {
            throw Corrupt($"memo slot {index} is read before it is written");
        }

        if (entry.Value is PyString text)
        {
            if (locationStrings.Contains(text))
            {
                memoGets.Add((opIndex, entry.PutOp));
            }
            else
            {
                readStrings.Add(text);
            }
        }
        else if (Convertible(entry.Value))
        {
            memoGets.Add((opIndex, entry.PutOp));
        }

        PushExisting(entry.Value, opIndex);
    }

    private static void AppendTo(PyValue target, IReadOnlyList<(PyValue Value, int Op)> items)
    {
        switch (target)
        {
            case PyList list:
                list.Items.AddRange(items.Select(i => i.Value));
                break;
            case PyInstance instance:
                instance.ListItems.AddRange(items.Select(i => i.Value));
                break;
        }
    }

    private void SetItems(PyValue target, List<(PyValue Value, int Op)> items)
    {
        if (items.Count % 2 != 0)
        {
            throw Corrupt("SETITEMS with an odd number of items");
        }

        switch (target)
        {
            case PyDict dict:
                AddPairs(dict.Items, items);
                break;
            case PyInstance instance:
                AddPairs(instance.DictItems, items);
                break;
        }
    }

    private void AddPairs(List<KeyValuePair<PyValue, PyValue>> target, List<(PyValue Value, int Op)> items)
    {
        for (var i = 0; i + 1 < items.Count; i += 2)
        {
            CheckHashable(items[i].Value);
            target.Add(new KeyValuePair<PyValue, PyValue>(items[i].Value, items[i + 1].Value));
        }
    }

    // Python hashes a dict key or set member by walking it whole, shared parts once per reference:
    // a tuple of 256 references to a tuple of 256 references, eight deep, takes 2^64 steps. The
    // consumer's torch.load would never finish, so such a file is not carried. Sizes are memoized
    // per tuple, so this check itself is linear.
    private void CheckHashable(PyValue key)
    {
        RefuseUnhashable(key);
        if (key is (PyTuple or PySet) && HashCost(key) > MaxHashCost)
        {
            throw Refused(FormatErrorKind.LimitExceeded, $"a dict key or set member that would take more than {MaxHashCost:N0} steps to hash (a consumer's torch.load would never finish)");
        }
    }

    // Python hashes a key's items too: a list, a dict or a set anywhere in it fails torch.load with
    // "unhashable type", and a set that could still grow would make a cached cost stale.
    private void RefuseUnhashable(PyValue value)
    {
        if (value switch { PyList => "a list", PyDict => "a dict", PySet { IsFrozen: false } => "a set", _ => null } is { } kind)
        {
            throw Corrupt($"a dict key or set member holds {kind}, which Python cannot hash (torch.load fails on it)");
        }
    }

    // Nested tuples may be tens of thousands deep: their costs are filled bottom-up without recursion.
    // Only tuples and frozensets are walked (the root too: the caller checks), each built from items
    // that existed before it, so a key cannot reach itself; one being filled in still counts as too
    // costly, should it ever.
    private long HashCost(PyValue root)
    {
        if (hashCosts.TryGetValue(root, out var known))
        {
            return known;
        }

        var pending = new Stack<(PyValue Value, bool Expanded)>();
        pending.Push((root, false));
        while (pending.TryPop(out var next))
        {
            var items = next.Value is PyTuple t ? (IEnumerable<PyValue>)t.Items : ((PySet)next.Value).Items;
            if (!next.Expanded)
            {
                if (hashCosts.ContainsKey(next.Value))
                {
                    continue; // pushed more than once before its turn, or done already
                }

                hashCosts[next.Value] = MaxHashCost + 1;
                pending.Push((next.Value, true));
                foreach (var item in items)
                {
                    RefuseUnhashable(item);
                    if (item is PyTuple or PySet && !hashCosts.ContainsKey(item))
                    {
                        pending.Push((item, false));
                    }
                }

                continue;
            }

            var cost = 1L;
            foreach (var item in items)
            {
                cost = Math.Min(MaxHashCost + 1, cost + (item is PyTuple or PySet ? hashCosts[item] : 1));
            }

            hashCosts[next.Value] = cost;
        }

        return hashCosts[root];
    }

    private void PushTuple(PyValue[] items, int[] origins, int opIndex)
    {
        var tuple = new PyTuple(items);
        if (items is [PyString { Value: "storage" }, _, _, _, _])
        {
            tupleOrigins[tuple] = origins; // only a storage persistent id needs to know where its location came from
        }

        Push(tuple, opIndex);
    }

    private void Push(PyValue value, int op)
    {
        // Every push but a memo read or a DUP is a new object: bounding their number bounds memory
        // whatever the pickle's shape (a byte can make an empty dict).
        if (++objects > MaxObjects)
        {
            throw Refused(FormatErrorKind.LimitExceeded, $"the pickle builds more than {MaxObjects:N0} objects");
        }

        PushExisting(value, op);
    }

    private void PushExisting(PyValue value, int op)
    {
        // Memo reads are free to write but each is a reference every walk of the graph meets.
        if (++pushes > MaxPushes)
        {
            throw Refused(FormatErrorKind.LimitExceeded, $"the pickle pushes more than {MaxPushes:N0} values");
        }

        if (stack.Count >= 1_000_000)
        {
            throw Refused(FormatErrorKind.LimitExceeded, "pickle stack grows beyond a million items");
        }

        stack.Add((value, op));
    }

    private (PyValue Value, int Op) Peek() =>
        stack.Count > (marks.Count > 0 ? marks[^1] : 0) ? stack[^1] : throw Corrupt("pickle stack underflow");

    private (PyValue Value, int Op) Pop()
    {
        var top = Peek();
        stack.RemoveAt(stack.Count - 1);
        return top;
    }

    private List<(PyValue Value, int Op)> PopN(int n)
    {
        var floor = marks.Count > 0 ? marks[^1] : 0;
        if (stack.Count - n < floor)
        {
            throw Corrupt("pickle stack underflow");
        }

        return TakeFrom(stack.Count - n);
    }

    private List<(PyValue Value, int Op)> PopMark()
    {
        if (marks.Count == 0)
        {
            throw Corrupt("pickle pops a mark that was never set");
        }

        var mark = marks[^1];
        marks.RemoveAt(marks.Count - 1);
        return TakeFrom(mark);
    }

    // The items from <paramref name="start"/> to the top, moved into one reused list: every opcode
    // copies what it keeps at once, so a million-item batch does not leave a million-item copy behind.
    private List<(PyValue Value, int Op)> TakeFrom(int start)
    {
        scratch.Clear();
        scratch.AddRange(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(stack)[start..]);
        stack.RemoveRange(start, stack.Count - start);
        return scratch;
    }

    private byte ReadByte() => pos < data.Length ? data[pos++] : throw Corrupt("pickle ends inside an opcode (truncated?)");

    private ReadOnlySpan<byte> Take(long count)
    {
        if (count < 0 || count > data.Length - pos)
        {
            throw Corrupt("pickle ends inside an opcode (truncated?)");
        }

        var span = data.AsSpan(pos, (int)count);
        pos += (int)count;
        return span;
    }

    private int ReadLength32()
    {
        var length = BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
        return length <= int.MaxValue ? (int)length : throw Refused(FormatErrorKind.LimitExceeded, "pickle item longer than 2 GiB");
    }

    private long ReadLength64() => (long)Math.Min(ReadUInt64(), long.MaxValue);

    private ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    private string ReadLine() => Encoding.UTF8.GetString(ReadLineBytes());

    private ReadOnlySpan<byte> ReadLineBytes()
    {
        var end = Array.IndexOf(data, (byte)'\n', pos);
        if (end < 0)
        {
            throw Corrupt("pickle ends inside an opcode (truncated?)");
        }

        var line = data.AsSpan(pos, end - pos);
        pos = end + 1;
        return line;
    }

    // What CPython's unpickler accepts (PyOS_string_to_double): repr()'s text, inf and nan in any case,
    // no spaces; a number too large for a double is refused, not made infinite.
    private static double? ParseFloat(string text)
    {
        var unsigned = text.TrimStart('+', '-');
        if (text.Length - unsigned.Length > 1)
        {
            return null;
        }

        return unsigned.ToUpperInvariant() switch
        {
            "INF" or "INFINITY" => text[0] == '-' ? double.NegativeInfinity : double.PositiveInfinity,
            "NAN" => BitConverter.Int64BitsToDouble(0x7FF8000000000000), // CPython's NaN, whose sign bit is clear
            _ => double.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number) ? number : null,
        };
    }

    // Decimal text is parsed in quadratic time, and Python itself refuses more than 4,300 digits.
    private BigInteger ParseInteger(string text) =>
        text.TrimStart('+', '-').Length is var digits && digits > MaxDecimalDigits ? throw Refused(FormatErrorKind.LimitExceeded, $"an integer of {digits} digits; Python refuses more than {MaxDecimalDigits}")
        : BigInteger.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) ? value
        : throw Corrupt($"bad integer '{InputText.Printable(text)}'");

    private long MemoIndex(string text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var index) ? index : throw Corrupt($"memo index '{InputText.Printable(text)}' is not a number");

    private string Utf8(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return PythonText.StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Corrupt("a string is not valid UTF-8");
        }
    }

    private ArtifactFormatException Corrupt(string problem) => new(FormatErrorKind.Corrupt, $"{name}: data.pkl is corrupt at byte {pos}: {problem}");

    private ArtifactFormatException Refused(FormatErrorKind kind, string problem) => new(kind, $"{name}: data.pkl at byte {pos}: {problem}");
}
