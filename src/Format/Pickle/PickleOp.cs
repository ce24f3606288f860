namespace TorchFerry.Format.Pickle;

/// <summary>One opcode of the pickle stream: where it is.</summary>
/// <param name="Offset">Offset of the opcode byte in <c>data.pkl</c>.</param>
/// <param name="Length">Bytes of the opcode with its argument.</param>
/// <param name="Code">The opcode byte.</param>
internal readonly record struct PickleOp(int Offset, int Length, byte Code)
{
    /// <summary>Whether the opcode pushes a string given in its argument (any protocol's string opcodes).</summary>
    public static bool IsStringLiteral(byte code) => code is (byte)'X' or 0x8c or 0x8d or (byte)'V' or (byte)'T' or (byte)'U' or (byte)'S';
}
