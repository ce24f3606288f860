using System.Numerics;

namespace TorchFerry.Format.Pickle;

/// <summary>
/// A value of the pickle's object graph, built symbolically: nothing is imported or called.
/// A global such as a user's <c>nn.Module</c> subclass stays a name; a call stays a record of
/// what would be called with what.
/// </summary>
internal abstract class PyValue;

internal sealed class PyNone : PyValue
{
    public static readonly PyNone Instance = new();

    private PyNone()
    {
    }
}

internal sealed class PyBool(bool value) : PyValue
{
    public bool Value { get; } = value;
}

internal sealed class PyInt(BigInteger value) : PyValue
{
    public BigInteger Value { get; } = value;
}

internal sealed class PyFloat(double value) : PyValue
{
    public double Value { get; } = value;
}

internal sealed class PyString(string value) : PyValue
{
    public string Value { get; } = value;
}

internal sealed class PyBytes(byte[] value) : PyValue
{
    public byte[] Value { get; } = value;
}

internal sealed class PyTuple(PyValue[] items) : PyValue
{
    public PyValue[] Items { get; } = items;
}

internal sealed class PyList : PyValue
{
    public List<PyValue> Items { get; } = [];
}

internal sealed class PySet : PyValue
{
    public List<PyValue> Items { get; } = [];

    /// <summary>Made by FROZENSET: hashable, and never grown.</summary>
    public bool IsFrozen { get; init; }
}

internal sealed class PyDict : PyValue
{
    public List<KeyValuePair<PyValue, PyValue>> Items { get; } = [];

    public PyValue? Get(string key) =>
        Items.FirstOrDefault(kv => kv.Key is PyString s && s.Value == key).Value;
}

/// <summary>A module-level name (<c>GLOBAL</c>/<c>STACK_GLOBAL</c>): data, never imported.</summary>
internal sealed class PyGlobal(string module, string name) : PyValue
{
    public string Module { get; } = module;

    public string Name { get; } = name;

    public string FullName => Module + "." + Name;
}

/// <summary>
/// The result a call would have had (<c>REDUCE</c>, <c>NEWOBJ</c>, <c>INST</c>, <c>OBJ</c>), with the
/// items and state the pickle then gave it (<c>SETITEMS</c>, <c>APPENDS</c>, <c>BUILD</c>).
/// </summary>
internal sealed class PyInstance(PyValue callable, PyValue arguments) : PyValue
{
    public PyValue Callable { get; } = callable;

    public PyValue Arguments { get; } = arguments;

    public List<KeyValuePair<PyValue, PyValue>> DictItems { get; } = [];

    public List<PyValue> ListItems { get; } = [];

    public PyValue? State { get; set; }

    /// <summary>Made by NEWOBJ (a class's <c>__new__</c>, no call of the class itself).</summary>
    public bool IsConstructed { get; init; }

    public string? ClassName => Callable is PyGlobal g ? g.FullName : null;
}

/// <summary>A storage named by a persistent id <c>('storage', type, key, location, numel)</c>.</summary>
internal sealed class PyStorage(StorageReference storage) : PyValue
{
    public StorageReference Storage { get; } = storage;
}

/// <summary>A tensor rebuilt by a function TorchFerry understands.</summary>
internal sealed class PyTensor(
    StorageReference storage,
    long storageOffset,
    long[] shape,
    long[] stride,
    TorchDtype dtype,
    bool requiresGrad,
    bool isParameter,
    string? subclass) : PyValue
{
    public StorageReference Storage { get; } = storage;

    public long StorageOffset { get; } = storageOffset;

    public long[] Shape { get; } = shape;

    public long[] Stride { get; } = stride;

    public TorchDtype Dtype { get; } = dtype;

    public bool RequiresGrad { get; } = requiresGrad;

    public bool IsParameter { get; } = isParameter;

    public string? Subclass { get; } = subclass;

    public PyTensor AsParameter(bool requiresGrad) => new(Storage, StorageOffset, Shape, Stride, Dtype, requiresGrad, true, Subclass);

    public PyTensor AsSubclass(string subclass) => new(Storage, StorageOffset, Shape, Stride, Dtype, RequiresGrad, IsParameter, subclass);
}

/// <summary>A tensor rebuilt by a torch function TorchFerry does not support (quantized, sparse, ...).</summary>
internal sealed class PyUnsupportedTensor(string function) : PyValue
{
    public string Function { get; } = function;
}
