using System.Collections.Frozen;

namespace TorchFerry.Format.Pickle;

/// <summary>
/// Globals that would run code, touch the system or load more pickles when an archive is loaded.
/// TorchFerry never imports anything, but it refuses to carry such a file on to a consumer that
/// would: a checkpoint has no business naming them. User classes (any other module) are data.
/// </summary>
internal static class UnsafeGlobals
{
    private static readonly FrozenSet<string> Modules = new[]
    {
        "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "pty",
        "commands", "ctypes", "pickle", "_pickle", "marshal", "code", "codeop", "webbrowser",
        "multiprocessing", "asyncio", "signal", "pdb", "bdb", "platform", "urllib", "http", "requests",
        "ftplib", "smtplib", "telnetlib", "tempfile", "glob", "pathlib", "io", "_io", "zipimport",
        "types", "inspect", "dill", "cloudpickle", "torch.hub", "torch.jit", "torch._C._jit",
        "numpy.lib.npyio",
    }.ToFrozenSet(StringComparer.Ordinal);

    private static readonly FrozenSet<string> Builtins = new[]
    {
        "eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr", "globals",
        "locals", "vars", "input", "breakpoint", "execfile", "file", "apply", "reload", "memoryview",
    }.ToFrozenSet(StringComparer.Ordinal);

    public static bool IsUnsafe(string module, string name)
    {
        if (module is "builtins" or "__builtin__" or "__builtins__")
        {
            return Builtins.Contains(name);
        }

        for (var m = module; m.Length > 0; m = m.Contains('.', StringComparison.Ordinal) ? m[..m.LastIndexOf('.')] : string.Empty)
        {
            if (Modules.Contains(m))
            {
                return true;
            }
        }

        // torch.load / torch.save called from a pickle would read or write files.
        return module == "torch" && name is "load" or "save" or "from_file";
    }
}
