using System.Collections.Frozen;

namespace TorchFerry.Format.Pickle;

/// <summary>
/// Which globals a pickle may name, and which it may call. TorchFerry never imports or calls
/// anything, but it refuses to carry a file on to a consumer whose <c>torch.load</c> would run code.
/// The rule (the README's table is this one):
/// <list type="bullet">
/// <item>A call (<c>REDUCE</c>, <c>OBJ</c>, <c>INST</c>, and the function <c>_rebuild_from_type_v2</c>
/// applies) may only be of a name in <see cref="Callables"/>: what <c>torch.save</c> writes to rebuild
/// tensors, storages and plain containers. Anything else that would be called is refused.</item>
/// <item>A name that is only referred to (a class given to <c>NEWOBJ</c>, a dtype, a storage class, a
/// user's <c>nn.Module</c> or optimizer class) stays a symbol and is carried, unless it lies in a
/// module that touches the system (<see cref="BlockedModules"/>), is a builtin that runs code, or
/// walks attributes (a dotted name with a part that starts with <c>_</c>, or through a blocked module:
/// <c>torch</c> + <c>os.system</c>).</item>
/// </list>
/// </summary>
internal static class GlobalPolicy
{
    /// <summary>What may be called while loading: torch's rebuild functions and plain value constructors.</summary>
    public static FrozenSet<string> Callables { get; } = new[]
    {
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._utils._rebuild_qtensor", "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_sparse_csr_tensor",
        "torch._utils._rebuild_nested_tensor", "torch._utils._rebuild_device_tensor_from_numpy",
        "torch._utils._rebuild_meta_tensor_no_storage", "torch._utils._rebuild_wrapper_subclass",
        "torch._tensor._rebuild_from_type", "torch._tensor._rebuild_from_type_v2",
        "torch.Size", "torch.device", "torch.serialization._get_layout",
        "collections.OrderedDict", "collections.defaultdict", "collections.deque", "collections.Counter", "_codecs.encode", "copyreg._reconstructor",
        "builtins.set", "builtins.frozenset", "builtins.bytearray", "builtins.bytes", "builtins.slice", "builtins.complex", "builtins.range",
        "__builtin__.set", "__builtin__.frozenset", "__builtin__.bytearray", "__builtin__.bytes", "__builtin__.slice", "__builtin__.complex", "__builtin__.xrange",
        "numpy.core.multiarray._reconstruct", "numpy.core.multiarray.scalar", "numpy._core.multiarray._reconstruct", "numpy._core.multiarray.scalar", "numpy.dtype",
        "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta", "datetime.timezone",
        "pathlib.PosixPath", "pathlib.PurePosixPath", "pathlib.Path",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>Modules whose names a checkpoint has no business carrying (and their submodules).</summary>
    public static FrozenSet<string> BlockedModules { get; } = new[]
    {
        "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "pty",
        "commands", "ctypes", "pickle", "_pickle", "pickletools", "marshal", "code", "codeop", "webbrowser",
        "multiprocessing", "asyncio", "signal", "pdb", "bdb", "platform", "urllib", "http", "requests",
        "ftplib", "smtplib", "telnetlib", "tempfile", "glob", "io", "_io", "zipimport", "types", "inspect",
        "dill", "cloudpickle", "joblib", "timeit", "cProfile", "profile", "trace", "pydoc", "doctest",
        "operator", "functools", "threading", "_thread", "gc", "builtins.getattr", "numpy.load", "numpy.lib.npyio",
        "numpy.testing", "numpy.f2py", "torch.hub", "torch.jit", "torch._C._jit", "torch.ops", "torch.serialization",
        "torch.storage", "torch.package", "torch.utils.cpp_extension", "torch.distributed",
    }.ToFrozenSet(StringComparer.Ordinal);

    private static readonly FrozenSet<string> CodeBuiltins = new[]
    {
        "eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr", "globals",
        "locals", "vars", "input", "breakpoint", "execfile", "file", "apply", "reload", "memoryview", "print", "help",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>Top-level packages whose classes NEWOBJ may not instantiate: their <c>__new__</c> may act.</summary>
    public static FrozenSet<string> SystemPackages { get; } = new[]
    {
        "builtins", "__builtin__", "itertools", "functools", "operator", "collections", "copyreg", "weakref",
        "numpy", "mmap", "zipfile", "tarfile", "sqlite3", "shelve", "dbm", "ctypes", "io", "_io", "os", "sys",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>Types a <c>collections.defaultdict</c> may have as its factory (called for every missing key).</summary>
    public static FrozenSet<string> PlainTypes { get; } = new[]
    {
        "builtins.dict", "builtins.list", "builtins.set", "builtins.int", "builtins.float", "builtins.str", "collections.OrderedDict",
        "__builtin__.dict", "__builtin__.list", "__builtin__.int", "__builtin__.float",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>Whether <paramref name="global"/> is a plain type, harmless to call with no arguments.</summary>
    public static bool IsPlainType(PyGlobal global) => PlainTypes.Contains(global.FullName);

    /// <summary>Whether loading may call <c>module.name</c>.</summary>
    public static bool MayCall(PyGlobal global) => Callables.Contains(global.FullName);

    /// <summary>Torch's tensor rebuild functions: they store their arguments, never iterate or call them (but _rebuild_from_type's function).</summary>
    public static bool IsTorchRebuild(PyGlobal global) =>
        global.Module is "torch._utils" or "torch._tensor" && global.Name.StartsWith("_rebuild", StringComparison.Ordinal);

    /// <summary>Why NEWOBJ may not make an instance of <paramref name="global"/>, or null when it may.</summary>
    public static string? RefusalOfInstantiation(PyGlobal global)
    {
        var package = global.Module.Split('.')[0];
        return SystemPackages.Contains(package) || BlockedModules.Contains(package) ? "a class of the standard library or numpy, whose construction may act" : null;
    }

    /// <summary>Why <c>module.name</c> may not even be named, or null when it may.</summary>
    public static string? RefusalOfName(string module, string name)
    {
        if (Callables.Contains(module + "." + name))
        {
            return null;
        }

        var parts = name.Split('.');
        if (parts.Length > 1 && parts.Any(p => p.Length == 0 || p[0] == '_'))
        {
            return "a dotted name that walks private attributes";
        }

        if (module is "builtins" or "__builtin__" or "__builtins__" && CodeBuiltins.Contains(parts[0]))
        {
            return "a builtin that runs code or touches files";
        }

        // Every prefix of the full path, and every part of a dotted name as a module of its own:
        // torch + "os.system" resolves through torch.os, which is os.
        var full = module + "." + name;
        for (var end = full.IndexOf('.', StringComparison.Ordinal); end >= 0; end = full.IndexOf('.', end + 1))
        {
            if (BlockedModules.Contains(full[..end]))
            {
                return "in a module that runs code or touches the system";
            }
        }

        return BlockedModules.Contains(full) || (parts.Length > 1 && parts[..^1].Any(BlockedModules.Contains))
            ? "in a module that runs code or touches the system"
            : null;
    }
}
