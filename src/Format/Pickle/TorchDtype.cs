using System.Collections.Frozen;

namespace TorchFerry.Format.Pickle;

/// <summary>A torch dtype by its Python name (<c>float32</c>) and the bytes of one element.</summary>
internal sealed record TorchDtype(string Name, int ElementSize)
{
    /// <summary>The byte view used for <c>torch.UntypedStorage</c>, whose numel counts bytes.</summary>
    public static readonly TorchDtype Untyped = new("uint8", 1);

    private static readonly FrozenDictionary<string, TorchDtype> ByStorageClass = new Dictionary<string, TorchDtype>
    {
        ["FloatStorage"] = new("float32", 4),
        ["DoubleStorage"] = new("float64", 8),
        ["HalfStorage"] = new("float16", 2),
        ["BFloat16Storage"] = new("bfloat16", 2),
        ["LongStorage"] = new("int64", 8),
        ["IntStorage"] = new("int32", 4),
        ["ShortStorage"] = new("int16", 2),
        ["CharStorage"] = new("int8", 1),
        ["ByteStorage"] = new("uint8", 1),
        ["BoolStorage"] = new("bool", 1),
        ["ComplexFloatStorage"] = new("complex64", 8),
        ["ComplexDoubleStorage"] = new("complex128", 16),
        ["QInt8Storage"] = new("qint8", 1),
        ["QUInt8Storage"] = new("quint8", 1),
        ["QInt32Storage"] = new("qint32", 4),
        ["QUInt4x2Storage"] = new("quint4x2", 1),
        ["QUInt2x4Storage"] = new("quint2x4", 1),
        ["UntypedStorage"] = Untyped,
    }.ToFrozenDictionary();

    private static readonly FrozenDictionary<string, int> SizeByDtypeName = new Dictionary<string, int>
    {
        ["float32"] = 4, ["float"] = 4, ["float64"] = 8, ["double"] = 8, ["float16"] = 2, ["half"] = 2,
        ["bfloat16"] = 2, ["int64"] = 8, ["long"] = 8, ["int32"] = 4, ["int"] = 4, ["int16"] = 2,
        ["short"] = 2, ["int8"] = 1, ["uint8"] = 1, ["bool"] = 1, ["complex64"] = 8, ["cfloat"] = 8,
        ["complex128"] = 16, ["cdouble"] = 16, ["complex32"] = 4, ["chalf"] = 4, ["uint16"] = 2,
        ["uint32"] = 4, ["uint64"] = 8, ["float8_e4m3fn"] = 1, ["float8_e5m2"] = 1,
        ["float8_e4m3fnuz"] = 1, ["float8_e5m2fnuz"] = 1, ["float8_e8m0fnu"] = 1, ["float4_e2m1fn_x2"] = 1,
        ["qint8"] = 1, ["quint8"] = 1, ["qint32"] = 4, ["quint4x2"] = 1, ["quint2x4"] = 1,
        ["bits8"] = 1, ["bits16"] = 2, ["bits1x8"] = 1, ["bits2x4"] = 1, ["bits4x2"] = 1,
    }.ToFrozenDictionary();

    /// <summary>The dtype of a typed storage class such as <c>torch.FloatStorage</c> or <c>torch.cuda.HalfStorage</c>.</summary>
    public static TorchDtype? FromStorageClass(string module, string name) =>
        (module is "torch" or "torch.cuda") && ByStorageClass.TryGetValue(name, out var dtype) ? dtype : null;

    /// <summary>The dtype a pickled <c>torch.&lt;name&gt;</c> global stands for, as in <c>_rebuild_tensor_v3</c>.</summary>
    public static TorchDtype? FromName(string name) =>
        SizeByDtypeName.TryGetValue(name, out var size) ? new TorchDtype(Canonical(name), size) : null;

    private static string Canonical(string name) => name switch
    {
        "float" => "float32",
        "double" => "float64",
        "half" => "float16",
        "long" => "int64",
        "int" => "int32",
        "short" => "int16",
        "cfloat" => "complex64",
        "cdouble" => "complex128",
        "chalf" => "complex32",
        _ => name,
    };
}
