using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using TorchFerry.Format.Pickle;
using TorchFerry.TestSupport;

namespace TorchFerry.Format.Tests.Pickle;

/// <summary>
/// CPython's own pickler as the oracle for the reader's data opcodes: every plain value it writes at
/// protocols 0 to 5 (python/pickle_values.py) must be read back as exactly that value.
/// </summary>
public sealed class PickleOracleTests
{
    [Fact]
    public void Parse_EveryPlainValueCPythonPickles_AtEveryProtocol_ReadsBackAsThatValue()
    {
        var cases = CPython()["pickled"]!.AsArray().Select(c => c!).ToList();
        var wrong = new List<string>();
        foreach (var c in cases)
        {
            var label = $"protocol {c["protocol"]} {c["name"]}";
            try
            {
                var document = PickleReader.Parse(Convert.FromHexString(c["pickle"]!.GetValue<string>()), label);
                var read = Describe(document.Root);
                if (read != c["expected"]!.GetValue<string>())
                {
                    wrong.Add($"{label}: read {Shorten(read)}, CPython pickled {Shorten(c["expected"]!.GetValue<string>())}");
                }
            }
            catch (ArtifactFormatException e)
            {
                wrong.Add($"{label}: refused: {e.Message}");
            }
        }

        Assert.True(cases.Count >= 80, $"only {cases.Count} cases came from CPython");
        var opcodes = cases.SelectMany(c => c["ops"]!.AsArray().Select(o => o!.GetValue<string>())).ToHashSet();
        Assert.Superset(
            new HashSet<string> { "INT", "LONG", "FLOAT", "UNICODE", "GET", "PUT", "LONG1", "LONG4", "BINFLOAT", "BINUNICODE", "SHORT_BINUNICODE", "BINBYTES", "SHORT_BINBYTES", "BYTEARRAY8", "LONG_BINGET", "LONG_BINPUT", "MEMOIZE", "FRAME", "FROZENSET", "ADDITEMS", "SETITEM", "APPEND", "TUPLE1", "TUPLE2", "TUPLE3", "DICT", "LIST", "TUPLE" },
            opcodes);
        Assert.True(wrong.Count == 0, string.Join(Environment.NewLine, wrong));
    }

    [Fact]
    public void Parse_OldTextAndPython2Opcodes_MeanWhatCPythonsUnpicklerMakesOfThem()
    {
        // Protocol 0's text floats and escaped strings and Python 2's byte strings, as torch.load reads
        // them (encoding="utf-8"): the same value, or refused where CPython refuses.
        var wrong = new List<string>();
        var cases = CPython()["loaded"]!.AsArray().Select(c => c!).ToList();
        foreach (var c in cases)
        {
            var name = c["name"]!.GetValue<string>();
            var expected = c["expected"]!.GetValue<string>();
            string read;
            try
            {
                read = Describe(PickleReader.Parse(Convert.FromHexString(c["pickle"]!.GetValue<string>()), name).Root);
            }
            catch (ArtifactFormatException e) when (e.Kind is FormatErrorKind.Corrupt or FormatErrorKind.LimitExceeded)
            {
                read = "refused";
                Assert.StartsWith($"{name}: data.pkl ", e.Message, StringComparison.Ordinal);
                if (RefusalNames.FirstOrDefault(r => name.StartsWith(r.Opcode, StringComparison.Ordinal)) is { Says: { } says } && expected == "refused")
                {
                    // Past the source's name, which is the case's name here: it would hold an opcode's name on its own.
                    Assert.True(e.Message[name.Length..].Contains(says, StringComparison.Ordinal), $"{name}: {e.Message}");
                }
            }

            if (read != expected)
            {
                wrong.Add($"{name}: read {read}, CPython {expected}");
            }
        }

        Assert.Equal(57, cases.Count);
        Assert.Contains(cases, c => c["expected"]!.GetValue<string>() == "refused");
        Assert.True(wrong.Count == 0, string.Join(Environment.NewLine, wrong));
    }

    // What each refusal's line names (the opcode and its text, or why), by the case's first word.
    private static readonly (string Opcode, string Says)[] RefusalNames =
    [
        ("STRING", "STRING '"), ("UNICODE", "UNICODE '"), ("FLOAT", "FLOAT '"), ("SHORT_BINSTRING", "a string is not valid UTF-8"),
        ("INT 4301", "an integer of 4301 digits; Python refuses more than 4300"), ("INT not", "bad integer 'x'"), ("GET", "memo index 'x' is not a number"),
        ("REDUCE", "pickle stack underflow"), ("SETITEM", "pickle stack underflow"), ("TUPLE2", "pickle stack underflow"), ("BINUNICODE", "pickle ends inside an opcode (truncated?)"),
        ("KEY a list", "holds a list, which Python cannot hash"), ("KEY a dict", "holds a dict, which Python cannot hash"),
        ("KEY a tuple holding a list", "holds a list, which Python cannot hash"), ("MEMBER a set", "holds a set, which Python cannot hash"),
        ("MEMBER a list", "holds a list, which Python cannot hash"), ("ADDITEMS", "ADDITEMS into a frozenset, which cannot grow"),
    ];

    private static JsonNode CPython() => PythonScript.RunJson("pickle_values.py");

    private static string Shorten(string text) => text.Length <= 160 ? text : text[..160] + "…";

    // The same canonical text pickle_values.py writes for the value CPython pickled; a value nested
    // past 200 levels (a container read into itself) is cut, so a regression fails, not the test run.
    private static string Describe(PyValue value, int depth = 0) => value switch
    {
        _ when depth > 200 => "<too deep>",
        PyNone => "None",
        PyBool b => b.Value ? "True" : "False",
        PyInt i => i.Value.ToString(CultureInfo.InvariantCulture),
        PyFloat f => "f:" + Hex(f.Value),
        PyString s => "s:" + Convert.ToHexStringLower(Encoding.UTF8.GetBytes(s.Value)),
        PyBytes b => "b:" + Convert.ToHexStringLower(b.Value),
        PyTuple t => "(" + string.Join(",", t.Items.Select(i => Describe(i, depth + 1))) + ")",
        PyList l => "[" + string.Join(",", l.Items.Select(i => Describe(i, depth + 1))) + "]",
        PyDict d => "{" + string.Join(",", d.Items.Select(kv => Describe(kv.Key, depth + 1) + ":" + Describe(kv.Value, depth + 1))) + "}",
        PySet s => "set{" + string.Join(",", s.Items.Select(i => Describe(i, depth + 1))) + "}",
        _ => $"<{value.GetType().Name}>",
    };

    private static string Hex(double value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteDoubleBigEndian(bytes, value);
        return Convert.ToHexStringLower(bytes);
    }
}
