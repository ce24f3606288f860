namespace TorchFerry.Format.Pickle;

/// <summary>
/// A parsed <c>data.pkl</c>: the symbolic object graph, the storages it names and, for rewriting,
/// where each storage's location string comes from in the byte stream.
/// </summary>
internal sealed class PickleDocument(
    byte[] bytes,
    PyValue root,
    int protocol,
    OpTable ops,
    IReadOnlyList<LocationSlot> locationSlots,
    IReadOnlyDictionary<string, StorageReference> storages,
    IReadOnlyList<(int GetOp, int PutOp)> memoGets,
    IReadOnlyDictionary<int, int> memoPuts)
{
    public byte[] Bytes { get; } = bytes;

    public PyValue Root { get; } = root;

    public int Protocol { get; } = protocol;

    public OpTable Ops { get; } = ops;

    /// <summary>Every opcode that supplies a storage's location to a persistent id.</summary>
    public IReadOnlyList<LocationSlot> LocationSlots { get; } = locationSlots;

    /// <summary>Storages by key, in the order the pickle first names them.</summary>
    public IReadOnlyDictionary<string, StorageReference> Storages { get; } = storages;

    /// <summary>Every GET opcode with the PUT opcode whose value it reads.</summary>
    public IReadOnlyList<(int GetOp, int PutOp)> MemoGets { get; } = memoGets;

    /// <summary>For each PUT opcode, the opcode that pushed the value it stores.</summary>
    public IReadOnlyDictionary<int, int> MemoPuts { get; } = memoPuts;

    /// <summary>Every global the pickle names (<c>module.name</c>).</summary>
    public IReadOnlySet<string> Globals { get; init; } = new HashSet<string>();

    /// <summary>Every NEWOBJ, in order: what weights-only conversion turns into plain values.</summary>
    public IReadOnlyList<Construction> Constructions { get; init; } = [];

    /// <summary>Every BUILD that set the state of an object, in order.</summary>
    public IReadOnlyList<(int BuildOp, PyInstance Instance)> Builds { get; init; } = [];
}

/// <summary>A NEWOBJ at <paramref name="NewObjOp"/> made <paramref name="Instance"/> of the class pushed by <paramref name="ClassOp"/> with the arguments pushed by <paramref name="ArgsOp"/>.</summary>
internal readonly record struct Construction(int NewObjOp, int ClassOp, int ArgsOp, PyInstance Instance);

/// <summary>The opcode at <paramref name="OpIndex"/> pushes <paramref name="Location"/> into a persistent id.</summary>
internal readonly record struct LocationSlot(int OpIndex, string Location);
