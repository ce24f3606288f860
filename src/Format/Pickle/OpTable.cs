namespace TorchFerry.Format.Pickle;

/// <summary>
/// Every opcode of a parsed pickle, compactly: four bytes of offset per opcode (the code and the
/// length follow from the bytes), and memo slots only for the memo opcodes. The rewriter needs
/// every opcode; holding them as records would cost six times as much for the same facts.
/// </summary>
internal sealed class OpTable
{
    private readonly byte[] bytes;
    private readonly int[] offsets;
    private readonly int end;
    private readonly Dictionary<int, long> memoIndexes;

    public OpTable(byte[] bytes, int[] offsets, int end, Dictionary<int, long> memoIndexes)
    {
        this.bytes = bytes;
        this.offsets = offsets;
        this.end = end;
        this.memoIndexes = memoIndexes;
    }

    public int Length => offsets.Length;

    public PickleOp this[int index]
    {
        get
        {
            var offset = offsets[index];
            var next = index + 1 < offsets.Length ? offsets[index + 1] : end;
            return new PickleOp(offset, next - offset, bytes[offset], memoIndexes.GetValueOrDefault(index, -1));
        }
    }
}
