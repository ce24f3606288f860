using System.Buffers.Binary;
using System.Text;

namespace TorchFerry.TestSupport;

/// <summary>Writes pickle opcodes by hand, for inputs torch would never produce.</summary>
public sealed class PickleBuilder
{
    private readonly MemoryStream bytes = new();

    public PickleBuilder Proto(byte version) => Op(0x80, version);

    public PickleBuilder Mark() => Op((byte)'(');

    public PickleBuilder Global(string module, string name) => Op((byte)'c').Raw(Encoding.UTF8.GetBytes($"{module}\n{name}\n"));

    public PickleBuilder Str(string value)
    {
        var utf8 = Encoding.UTF8.GetBytes(value);
        var length = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(length, utf8.Length);
        return Op((byte)'X').Raw(length).Raw(utf8);
    }

    public PickleBuilder Int(long value)
    {
        if (value is >= int.MinValue and <= int.MaxValue)
        {
            var b = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(b, (int)value);
            return Op((byte)'J').Raw(b);
        }

        var l = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(l, value);
        return Op(0x8a, 8).Raw(l);
    }

    public PickleBuilder False() => Op(0x89);

    public PickleBuilder Tuple() => Op((byte)'t');

    public PickleBuilder EmptyTuple() => Op((byte)')');

    public PickleBuilder EmptyDict() => Op((byte)'}');

    public PickleBuilder SetItems() => Op((byte)'u');

    public PickleBuilder Reduce() => Op((byte)'R');

    public PickleBuilder NewObj() => Op(0x81);

    public PickleBuilder Build() => Op((byte)'b');

    public PickleBuilder PersistentId() => Op((byte)'Q');

    public PickleBuilder Put(byte index) => Op((byte)'q', index);

    public PickleBuilder Get(byte index) => Op((byte)'h', index);

    public PickleBuilder Stop() => Op((byte)'.');

    /// <summary>('storage', torch.&lt;type&gt;, key, location, numel) followed by BINPERSID.</summary>
    public PickleBuilder Storage(string type, string key, string location, long numel) =>
        Mark().Str("storage").Global("torch", type).Str(key).Str(location).Int(numel).Tuple().PersistentId();

    /// <summary>A contiguous 1-d tensor via _rebuild_tensor_v2 over a new storage.</summary>
    public PickleBuilder Tensor1d(string type, string key, string location, long numel) =>
        Global("torch._utils", "_rebuild_tensor_v2").Mark().Storage(type, key, location, numel)
            .Int(0).Mark().Int(numel).Tuple().Mark().Int(1).Tuple().False()
            .Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce();

    public PickleBuilder Raw(ReadOnlySpan<byte> data)
    {
        bytes.Write(data);
        return this;
    }

    public PickleBuilder Op(byte code, params byte[] argument)
    {
        bytes.WriteByte(code);
        bytes.Write(argument);
        return this;
    }

    public byte[] ToArray() => bytes.ToArray();
}
