namespace TorchFerry.Format.Pickle;

/// <summary>
/// Recognises torch's tensor rebuild calls in <c>REDUCE</c> (without calling them) and turns
/// them into <see cref="PyTensor"/>s; other torch rebuild functions become
/// <see cref="PyUnsupportedTensor"/> so callers can say plainly what is not supported.
/// </summary>
internal static class TorchRebuild
{
    public static PyValue Reduce(PyValue callable, PyValue args, string name)
    {
        if (callable is not PyGlobal { Module: "torch._utils" or "torch._tensor" } function || args is not PyTuple tuple)
        {
            return new PyInstance(callable, args);
        }

        var items = tuple.Items;
        switch (function.Name)
        {
            case "_rebuild_tensor_v2" when items.Length >= 5:
                return Tensor(items, dtype: null, function, name);
            case "_rebuild_tensor_v3" when items.Length >= 7:
                {
                    var dtype = items[6] is PyGlobal { Module: "torch" } g
                        ? TorchDtype.FromName(g.Name) ?? throw Bad(name, function, $"unknown dtype torch.{g.Name}")
                        : throw Bad(name, function, "dtype argument is not a torch dtype");
                    return Tensor(items, dtype, function, name);
                }

            case "_rebuild_parameter" or "_rebuild_parameter_with_state" when items.Length >= 2:
                return items[0] switch
                {
                    PyTensor data => data.AsParameter(items[1] is PyBool { Value: true }),
                    PyUnsupportedTensor unsupported => unsupported,
                    _ => throw Bad(name, function, "its data is not a tensor"),
                };
            case "_rebuild_from_type_v2" or "_rebuild_from_type" when items.Length >= 2:
                {
                    // func(*args) is called while loading: it must be one of torch's tensor rebuild
                    // functions (what torch writes; a plain constructor could iterate a lazy call), and
                    // not another of these (torch never nests them; the walk must not recurse).
                    if (items[0] is not PyGlobal func || !GlobalPolicy.MayCall(func) || !GlobalPolicy.IsTorchRebuild(func) || func.Name.StartsWith("_rebuild_from_type", StringComparison.Ordinal))
                    {
                        throw new ArtifactFormatException(FormatErrorKind.UnsafeGlobal, $"{name}: data.pkl calls {function.FullName} with a function that is not on TorchFerry's allowlist; loading it would run code, so TorchFerry refuses to read or carry it");
                    }

                    // Tensor subclasses: (func, type, args, state); the tensor itself is func(*args).
                    var inner = items.Length >= 3 ? Reduce(items[0], items[2], name) : new PyInstance(items[0], PyNone.Instance);
                    var type = items[1] is PyGlobal t ? t.FullName : "?";
                    return inner is PyTensor tensor
                        ? (type == "torch.Tensor" ? tensor : tensor.AsSubclass(type))
                        : inner;
                }

            default:
                return function.Name.StartsWith("_rebuild", StringComparison.Ordinal)
                    ? new PyUnsupportedTensor(function.FullName)
                    : new PyInstance(callable, args);
        }
    }

    private static PyTensor Tensor(PyValue[] items, TorchDtype? dtype, PyGlobal function, string name)
    {
        if (items[0] is not PyStorage storage)
        {
            throw Bad(name, function, "its first argument is not a storage");
        }

        var offset = items[1] is PyInt o ? (long)o.Value : throw Bad(name, function, "storage offset is not an integer");
        var shape = Longs(items[2]) ?? throw Bad(name, function, "size is not a tuple of integers");
        var stride = Longs(items[3]) ?? throw Bad(name, function, "stride is not a tuple of integers");
        if (shape.Length != stride.Length)
        {
            throw Bad(name, function, $"size has {shape.Length} dimensions but stride {stride.Length}");
        }

        var requiresGrad = items[4] is PyBool { Value: true };
        return new PyTensor(storage.Storage, offset, shape, stride, dtype ?? storage.Storage.Dtype, requiresGrad, isParameter: false, subclass: null);
    }

    private static long[]? Longs(PyValue value)
    {
        if (value is not PyTuple tuple)
        {
            return null;
        }

        var result = new long[tuple.Items.Length];
        for (var i = 0; i < result.Length; i++)
        {
            if (tuple.Items[i] is not PyInt { Value: var v } || v < long.MinValue || v > long.MaxValue)
            {
                return null;
            }

            result[i] = (long)v;
        }

        return result;
    }

    private static ArtifactFormatException Bad(string name, PyGlobal function, string problem) =>
        new(FormatErrorKind.Corrupt, $"{name}: data.pkl calls {function.FullName} with unexpected arguments: {problem}");
}
