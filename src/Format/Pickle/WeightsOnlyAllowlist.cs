using System.Collections.Frozen;

namespace TorchFerry.Format.Pickle;

/// <summary>
/// What <c>torch.load(weights_only=True)</c> accepts, per torch release: the globals of
/// <c>torch/_weights_only_unpickler.py</c>'s <c>_get_allowed_globals()</c> and the opcodes its
/// <c>Unpickler.load</c> knows. Anything else fails the load whatever the device, so a file that
/// names anything else cannot be loaded with torch's default from 2.6 on.
/// </summary>
internal sealed class WeightsOnlyAllowlist
{
    private static readonly string[] TensorScalars = ["BFloat16", "Bool", "Byte", "Char", "Double", "Float", "Half", "Int", "Long", "Short"];
    private static readonly string[] SparseScalars = ["BFloat16", "Byte", "Char", "Double", "Float", "Half", "Int", "Long", "Short"];
    private static readonly string[] StorageScalars = ["BFloat16", "Bool", "Byte", "Char", "ComplexDouble", "ComplexFloat", "Double", "Float", "Half", "Int", "Long", "Short"];
    private static readonly string[] QuantizedStorages = ["QInt32", "QInt8", "QUInt2x4", "QUInt4x2", "QUInt8"];

    // Protocol 2 as torch.save writes it, nothing of protocols 3 to 5 (no FRAME, STACK_GLOBAL,
    // MEMOIZE, SHORT_BINUNICODE, BINBYTES) and no POP, DUP or protocol 0 text opcodes.
    private static readonly byte[] Protocol2Opcodes =
    [
        (byte)'c', 0x81, (byte)'R', (byte)'b', (byte)'a', (byte)'e', (byte)'s', (byte)'u', (byte)'(', (byte)'t', 0x85, 0x86, 0x87,
        (byte)'N', 0x89, 0x88, (byte)')', (byte)']', (byte)'}', 0x8f, (byte)'J', (byte)'K', (byte)'M', (byte)'X', (byte)'U',
        (byte)'Q', (byte)'h', (byte)'j', (byte)'q', (byte)'r', 0x8a, 0x80, (byte)'.',
    ];

    private static readonly FrozenDictionary<byte, string> OpcodeNames = new Dictionary<byte, string>
    {
        [(byte)'G'] = "BINFLOAT (a float)", [(byte)'F'] = "FLOAT (a float, protocol 0)", [0x95] = "FRAME (pickle protocol 4 or later)",
        [0x93] = "STACK_GLOBAL (pickle protocol 4 or later)", [0x94] = "MEMOIZE (pickle protocol 4 or later)",
        [0x8c] = "SHORT_BINUNICODE (pickle protocol 4 or later)", [0x8d] = "BINUNICODE8 (pickle protocol 4 or later)",
        [(byte)'B'] = "BINBYTES (bytes, pickle protocol 3 or later)", [(byte)'C'] = "SHORT_BINBYTES (bytes, pickle protocol 3 or later)",
        [0x8e] = "BINBYTES8 (bytes, pickle protocol 4 or later)", [0x96] = "BYTEARRAY8 (pickle protocol 5)", [0x97] = "NEXT_BUFFER (pickle protocol 5)",
        [0x98] = "READONLY_BUFFER (pickle protocol 5)", [0x92] = "NEWOBJ_EX (pickle protocol 4 or later)", [0x90] = "ADDITEMS (a set, protocol 4 or later)",
        [0x91] = "FROZENSET (pickle protocol 4 or later)", [0x8b] = "LONG4 (an integer of more than 255 bytes)", [(byte)'0'] = "POP", [(byte)'1'] = "POP_MARK",
        [(byte)'2'] = "DUP", [(byte)'i'] = "INST (protocol 0)", [(byte)'o'] = "OBJ (protocol 0)", [(byte)'I'] = "INT (protocol 0)", [(byte)'L'] = "LONG (protocol 0)",
        [(byte)'S'] = "STRING (protocol 0)", [(byte)'T'] = "BINSTRING", [(byte)'V'] = "UNICODE (protocol 0)", [(byte)'l'] = "LIST (protocol 0)",
        [(byte)'d'] = "DICT (protocol 0)", [(byte)'p'] = "PUT (protocol 0)", [(byte)'g'] = "GET (protocol 0)",
    }.ToFrozenDictionary();

    private WeightsOnlyAllowlist(string torch, IEnumerable<string> globals, IEnumerable<byte> opcodes, bool newObjOnlyParameter)
    {
        Torch = torch;
        Globals = globals.ToFrozenSet(StringComparer.Ordinal);
        Opcodes = opcodes.ToFrozenSet();
        NewObjOnlyParameter = newObjOnlyParameter;
    }

    /// <summary>
    /// torch 1.13, the oldest release with <c>weights_only</c> (off by default). Checked against
    /// Debian's torch 1.13 by Format.Tests. It knows no floats (BINFLOAT) and NEWOBJ only makes Parameters.
    /// </summary>
    public static WeightsOnlyAllowlist Torch1_13 { get; } = new(
        "1.13",
        [
            "collections.OrderedDict", "torch.nn.parameter.Parameter", "torch.serialization._get_layout", "torch.Size", "torch.Tensor",
            .. Dtypes("complex32", "complex64", "complex128", "float16", "float32", "float64", "int8", "int16", "int32", "int64"),
            .. Rebuilds("_rebuild_parameter", "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_sparse_tensor", "_rebuild_meta_tensor_no_storage", "_rebuild_sparse_csr_tensor"),
            .. TensorAndStorageClasses(),
        ],
        Protocol2Opcodes,
        newObjOnlyParameter: true);

    /// <summary>
    /// torch 2.6, where <c>weights_only=True</c> became the default. From
    /// <c>torch/_weights_only_unpickler.py</c> as pytorch's main branch has it (commit 00f730b): a
    /// global added there after 2.6 would be judged loadable here where 2.6 refuses it.
    /// </summary>
    public static WeightsOnlyAllowlist Torch2_6 { get; } = new(
        "2.6",
        [
            "collections.OrderedDict", "collections.Counter", "torch.nn.parameter.Parameter", "torch.serialization._get_layout", "torch.Size",
            "torch.Tensor", "torch.device", "_codecs.encode", "builtins.bytearray", "builtins.set", "builtins.complex",
            .. Dtypes(
                "bfloat16", "bool", "complex32", "complex64", "complex128", "float16", "float32", "float64", "int8", "int16", "int32", "int64",
                "uint8", "uint16", "uint32", "uint64", "qint8", "qint32", "quint8", "quint4x2", "quint2x4", "float8_e5m2", "float8_e4m3fn",
                "float8_e5m2fnuz", "float8_e4m3fnuz", "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2",
                "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7", "int1", "int2", "int3", "int4", "int5", "int6", "int7"),
            "torch.per_tensor_affine", "torch.per_tensor_symmetric", "torch.per_channel_affine", "torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams",
            .. Rebuilds(
                "_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3",
                "_rebuild_sparse_tensor", "_rebuild_meta_tensor_no_storage", "_rebuild_wrapper_subclass", "_rebuild_device_tensor_from_numpy",
                "_rebuild_device_tensor_from_cpu_tensor"),
            "torch._tensor._rebuild_from_type_v2",
            .. TensorAndStorageClasses(),
        ],
        [.. Protocol2Opcodes, (byte)'G'],
        newObjOnlyParameter: false);

    /// <summary>Oldest first.</summary>
    public static IReadOnlyList<WeightsOnlyAllowlist> All { get; } = [Torch1_13, Torch2_6];

    /// <summary>The newest: what conversion aims at.</summary>
    public static WeightsOnlyAllowlist Newest => All[^1];

    /// <summary>The release, as <c>major.minor</c>.</summary>
    public string Torch { get; }

    public FrozenSet<string> Globals { get; }

    public FrozenSet<byte> Opcodes { get; }

    /// <summary>Whether NEWOBJ may only make <c>torch.nn.Parameter</c> (1.13) rather than any allowed class.</summary>
    public bool NewObjOnlyParameter { get; }

    /// <summary>What stops <paramref name="document"/> from loading with weights_only on this release: globals, then opcodes; empty when it loads.</summary>
    public IReadOnlyList<string> Blockers(PickleDocument document)
    {
        var blockers = new SortedSet<string>(document.Globals.Where(g => !Globals.Contains(g)), StringComparer.Ordinal);
        if (NewObjOnlyParameter)
        {
            blockers.UnionWith(document.Constructions.Select(c => c.Instance.ClassName ?? "NEWOBJ").Where(c => c != "torch.nn.parameter.Parameter").Select(c => $"NEWOBJ of {c}"));
        }

        var opcodes = new SortedSet<string>(StringComparer.Ordinal);
        var ops = document.Ops;
        for (var i = 0; i < ops.Length; i++)
        {
            var code = ops[i].Code;
            if (!Opcodes.Contains(code))
            {
                opcodes.Add("opcode " + (OpcodeNames.TryGetValue(code, out var name) ? name : $"0x{code:x2}"));
            }
        }

        return [.. blockers, .. opcodes];
    }

    private static IEnumerable<string> Dtypes(params string[] names) => names.Select(n => "torch." + n);

    private static IEnumerable<string> Rebuilds(params string[] names) => names.Select(n => "torch._utils." + n);

    private static IEnumerable<string> TensorAndStorageClasses() =>
        TensorScalars.SelectMany(s => new[] { $"torch.{s}Tensor", $"torch.cuda.{s}Tensor" })
            .Concat(SparseScalars.SelectMany(s => new[] { $"torch.sparse.{s}Tensor", $"torch.cuda.sparse.{s}Tensor" }))
            .Concat(StorageScalars.SelectMany(s => new[] { $"torch.{s}Storage", $"torch.cuda.{s}Storage" }))
            .Concat(QuantizedStorages.Select(s => $"torch.{s}Storage"))
            .Concat(["torch.storage.TypedStorage", "torch.storage.UntypedStorage"]);
}
