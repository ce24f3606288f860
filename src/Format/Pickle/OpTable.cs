namespace TorchFerry.Format.Pickle;

/// <summary>
/// Every opcode of a parsed pickle, compactly: four bytes of offset per opcode (the code and the
/// length follow from the bytes). The rewriter needs every opcode; holding them as records would
/// cost three times as much for the same facts. Offsets live in fixed chunks below the large-object
/// threshold: a table of millions of opcodes never doubles, copies or fragments one huge array.
/// </summary>
internal sealed class OpTable
{
    private const int ChunkBits = 14; // 16,384 offsets, 64 KiB a chunk
    private const int ChunkSize = 1 << ChunkBits;
    private readonly byte[] bytes;
    private readonly List<int[]> chunks = [];
    private int end;

    public OpTable(byte[] bytes)
    {
        this.bytes = bytes;
    }

    public int Length { get; private set; }

    public PickleOp this[int index]
    {
        get
        {
            var offset = OffsetOf(index);
            var next = index + 1 < Length ? OffsetAt(index + 1) : end;
            return new PickleOp(offset, next - offset, bytes[offset]);
        }
    }

    /// <summary>Where the opcode at <paramref name="index"/> starts (known before the table is sealed).</summary>
    public int OffsetOf(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Length);
        return OffsetAt(index);
    }

    /// <summary>Records the next opcode, which starts at <paramref name="offset"/>.</summary>
    public void Add(int offset)
    {
        if ((Length & (ChunkSize - 1)) == 0)
        {
            chunks.Add(new int[ChunkSize]);
        }

        chunks[^1][Length & (ChunkSize - 1)] = offset;
        Length++;
    }

    /// <summary>Ends the table: the last opcode runs to <paramref name="offset"/>.</summary>
    public OpTable Seal(int offset)
    {
        end = offset;
        return this;
    }

    private int OffsetAt(int index) => chunks[index >> ChunkBits][index & (ChunkSize - 1)];
}
