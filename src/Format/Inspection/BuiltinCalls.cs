using TorchFerry.Format.Pickle;

namespace TorchFerry.Format.Inspection;

/// <summary>
/// Values protocol 2 (torch.save's default) has no opcode for, which the pickler writes as calls:
/// bytes as <c>_codecs.encode(text, 'latin1')</c> (empty bytes as <c>bytes()</c>), a set as
/// <c>set([items])</c>. Read here as the values they make; nothing is called.
/// </summary>
internal static class BuiltinCalls
{
    /// <summary>The length of the bytes <paramref name="instance"/> makes, or null when it makes none.</summary>
    public static int? BytesLength(PyInstance instance) => instance switch
    {
        // What CPython writes; text beyond Latin-1 would fail to encode in torch.load, so it is no bytes.
        { ClassName: "_codecs.encode", Arguments: PyTuple { Items: [PyString text, PyString { Value: "latin1" }] } }
            when text.Value.All(c => c <= '\u00ff') => text.Value.Length,
        { ClassName: "builtins.bytes" or "__builtin__.bytes", Arguments: PyTuple { Items: [] } } => 0,
        _ => null,
    };

    /// <summary>The items of the set <paramref name="instance"/> makes, or null when it makes none.</summary>
    public static IReadOnlyList<PyValue>? SetItems(PyInstance instance) => instance switch
    {
        { ClassName: "builtins.set" or "builtins.frozenset" or "__builtin__.set" or "__builtin__.frozenset", Arguments: PyTuple { Items: [PyList list] } } => list.Items,
        _ => null,
    };
}
