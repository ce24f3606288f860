using TorchFerry.Format.Pickle;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Pickle;

/// <summary>
/// The allowlist and blocklists, entry by entry, through the reader: each list is spelled out here
/// as the contract, so dropping or misspelling an entry in the product fails a named case.
/// </summary>
public sealed class GlobalPolicyTests
{
    public static TheoryData<string> BlockedModules => new(
        "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "pty",
        "commands", "ctypes", "pickle", "_pickle", "pickletools", "marshal", "code", "codeop", "webbrowser",
        "multiprocessing", "asyncio", "signal", "pdb", "bdb", "platform", "urllib", "http", "requests",
        "ftplib", "smtplib", "telnetlib", "tempfile", "glob", "io", "_io", "zipimport", "types", "inspect",
        "dill", "cloudpickle", "joblib", "timeit", "cProfile", "profile", "trace", "pydoc", "doctest",
        "operator", "functools", "threading", "_thread", "gc", "builtins.getattr", "numpy.load", "numpy.lib.npyio",
        "numpy.testing", "numpy.f2py", "torch.hub", "torch.jit", "torch._C._jit", "torch.ops", "torch.serialization",
        "torch.storage", "torch.package", "torch.utils.cpp_extension", "torch.distributed");

    public static TheoryData<string> CodeBuiltins => new(
        "eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr", "globals",
        "locals", "vars", "input", "breakpoint", "execfile", "file", "apply", "reload", "memoryview", "print", "help");

    public static TheoryData<string> Callables => new(
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._utils._rebuild_qtensor", "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_sparse_csr_tensor",
        "torch._utils._rebuild_nested_tensor", "torch._utils._rebuild_device_tensor_from_numpy",
        "torch._utils._rebuild_meta_tensor_no_storage", "torch._utils._rebuild_wrapper_subclass",
        "torch.Size", "torch.device", "torch.serialization._get_layout",
        "collections.OrderedDict", "collections.defaultdict", "collections.deque", "collections.Counter", "_codecs.encode",
        "builtins.set", "builtins.frozenset", "builtins.bytearray", "builtins.bytes", "builtins.slice", "builtins.complex", "builtins.range",
        "__builtin__.set", "__builtin__.frozenset", "__builtin__.bytearray", "__builtin__.bytes", "__builtin__.slice", "__builtin__.complex", "__builtin__.xrange",
        "numpy.core.multiarray._reconstruct", "numpy.core.multiarray.scalar", "numpy._core.multiarray._reconstruct", "numpy._core.multiarray.scalar", "numpy.dtype",
        "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta", "datetime.timezone",
        "pathlib.PosixPath", "pathlib.PurePosixPath", "pathlib.Path");

    public static TheoryData<string> SystemPackages => new(
        "builtins", "__builtin__", "itertools", "functools", "operator", "collections", "copyreg", "weakref",
        "numpy", "mmap", "zipfile", "tarfile", "sqlite3", "shelve", "dbm", "ctypes", "io", "_io", "os", "sys");

    [Theory]
    [MemberData(nameof(BlockedModules))]
    public void Name_InABlockedModuleOrItsSubmodules_IsRefused(string module)
    {
        AssertUnsafe(Named(module, "anything"), "in a module that runs code or touches the system");
        AssertUnsafe(Named(module + ".sub", "anything"), "in a module that runs code or touches the system");
    }

    [Theory]
    [MemberData(nameof(CodeBuiltins))]
    public void CodeRunningBuiltin_IsRefusedUnderEveryBuiltinsName(string builtin)
    {
        foreach (var module in new[] { "builtins", "__builtin__", "__builtins__" })
        {
            AssertUnsafe(Named(module, builtin), "a builtin that runs code or touches files");
        }
    }

    [Theory]
    [MemberData(nameof(Callables))]
    public void Callable_OnTheAllowlist_MayBeCalled(string callable)
    {
        var dot = callable.LastIndexOf('.');
        var call = new PickleBuilder().Proto(2).Global(callable[..dot], callable[(dot + 1)..]).EmptyTuple().Reduce().Stop().ToArray();

        // Called with no arguments, some refuse as corrupt; none may refuse the call itself.
        var error = Record.Exception(() => PickleReader.Parse(call, "ok.pt"));
        Assert.False(error is ArtifactFormatException { Kind: FormatErrorKind.UnsafeGlobal }, error?.Message);
    }

    [Theory]
    [MemberData(nameof(SystemPackages))]
    public void ClassOfTheStandardLibraryOrNumpy_MayNotBeInstantiated(string package)
    {
        var made = new PickleBuilder().Proto(2).Global(package + ".sub", "Thing").EmptyTuple().NewObj().Stop().ToArray();

        Assert.Equal(FormatErrorKind.UnsafeGlobal, Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(made, "evil.pt")).Kind);
    }

    [Theory]
    [InlineData("osmosis", "Net")] // a module whose name starts like a blocked one
    [InlineData("my_project.os_tools", "Net")]
    [InlineData("my_project.models", "_Private")] // one private name is a class, not an attribute walk
    [InlineData("my_project.models", "Net.Inner")] // a nested public class
    [InlineData("torch.serialization", "_get_layout")] // on the allowlist though its module is blocked
    [InlineData("torch.nn.modules.linear", "Linear")]
    public void Name_OfAUserOrTorchClass_IsCarried(string module, string name)
    {
        var global = Assert.IsType<PyGlobal>(PickleReader.Parse(Named(module, name), "ok.pt").Root);

        Assert.Equal($"{module}.{name}", global.FullName);
    }

    [Theory]
    [InlineData("my_project.models", "Net._secret", "a dotted name that walks private attributes")]
    [InlineData("my_project.models", "Net..x", "a dotted name that walks private attributes")]
    [InlineData("torch", "nn.os.system", "in a module that runs code or touches the system")] // torch.nn.os is os
    [InlineData("my_project", "subprocess.Popen", "in a module that runs code or touches the system")]
    public void DottedName_ThatWalksIntoPrivateOrBlockedAttributes_IsRefused(string module, string name, string why)
    {
        AssertUnsafe(Named(module, name), why);
    }

    [Theory]
    [InlineData("torch._utils", "_rebuild_tensor_v2", true)]
    [InlineData("torch._tensor", "_rebuild_from_type_v2", false)] // would nest
    [InlineData("torch", "Size", false)] // callable, but not a tensor rebuild
    [InlineData("my_project._utils", "_rebuild_tensor_v2", false)]
    [InlineData("torch._utils", "_rebuild_qtensor", true)]
    public void RebuildFromType_AcceptsOnlyTorchsOwnTensorRebuildAsItsFunction(string module, string function, bool accepted)
    {
        var bytes = new PickleBuilder().Proto(2).Global("torch._tensor", "_rebuild_from_type_v2")
            .Mark().Global(module, function).Global("torch", "Tensor").EmptyTuple().EmptyDict().Tuple().Reduce().Stop().ToArray();

        var error = Record.Exception(() => PickleReader.Parse(bytes, "sub.pt"));

        if (accepted)
        {
            Assert.False(error is ArtifactFormatException { Kind: FormatErrorKind.UnsafeGlobal }, error?.Message);
        }
        else
        {
            Assert.Equal(
                "sub.pt: data.pkl calls torch._tensor._rebuild_from_type_v2 with a function that is not on TorchFerry's allowlist; loading it would run code, so TorchFerry refuses to read or carry it",
                Assert.IsType<ArtifactFormatException>(error).Message);
        }
    }

    [Theory]
    [InlineData("builtins", "list", true)]
    [InlineData("builtins", "dict", true)]
    [InlineData("builtins", "set", true)]
    [InlineData("builtins", "int", true)]
    [InlineData("builtins", "float", true)]
    [InlineData("builtins", "str", true)]
    [InlineData("collections", "OrderedDict", true)]
    [InlineData("__builtin__", "dict", true)]
    [InlineData("__builtin__", "list", true)]
    [InlineData("__builtin__", "int", true)]
    [InlineData("__builtin__", "float", true)]
    [InlineData("my_project.tools", "make", false)]
    [InlineData("builtins", "bytearray", false)]
    public void DefaultDict_MayHaveOnlyAPlainTypeAsItsFactory(string module, string name, bool accepted)
    {
        var bytes = new PickleBuilder().Proto(2).Global("collections", "defaultdict").Mark().Global(module, name).Tuple().Reduce().Stop().ToArray();

        if (accepted)
        {
            Assert.Equal("collections.defaultdict", Assert.IsType<PyInstance>(PickleReader.Parse(bytes, "ok.pt").Root).ClassName);
        }
        else
        {
            Assert.Contains("defaultdict whose factory is not a plain type", Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(bytes, "evil.pt")).Message, StringComparison.Ordinal);
        }
    }

    private static byte[] Named(string module, string name) => new PickleBuilder().Proto(2).Global(module, name).Stop().ToArray();

    private static void AssertUnsafe(byte[] pickle, string why)
    {
        var error = Assert.Throws<ArtifactFormatException>(() => PickleReader.Parse(pickle, "evil.pt"));
        Assert.Equal(FormatErrorKind.UnsafeGlobal, error.Kind);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }
}
