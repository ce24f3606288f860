namespace TorchFerry.Format.Pickle;

/// <summary>
/// Every opcode of a parsed pickle, compactly: four bytes of offset per opcode (the code and the
/// length follow from the bytes). The rewriter needs
/// every opcode; holding them as records would cost three times as much for the same facts.
/// </summary>
internal sealed class OpTable
{
    private readonly byte[] bytes;
    private readonly int[] offsets;
    private readonly int end;

    public OpTable(byte[] bytes, int[] offsets, int end)
    {
        this.bytes = bytes;
        this.offsets = offsets;
        this.end = end;
    }

    public int Length => offsets.Length;

    public PickleOp this[int index]
    {
        get
        {
            var offset = offsets[index];
            var next = index + 1 < offsets.Length ? offsets[index + 1] : end;
            return new PickleOp(offset, next - offset, bytes[offset]);
        }
    }
}
