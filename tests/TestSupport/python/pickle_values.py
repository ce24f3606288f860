"""Plain values pickled by CPython's own pickler at protocols 0 to 5, each with a canonical description.

Prints a JSON object: "pickled", a list of {"protocol", "name", "pickle" (hex), "expected", "ops"}, and
"loaded", hand-written protocol 0 and Python 2 opcodes (text floats, quoted and escaped strings) with
what CPython's unpickler makes of them as torch.load calls it (encoding="utf-8"): a description, or
"refused". Only pickles made of data opcodes
are kept (no GLOBAL, STACK_GLOBAL or REDUCE: bytes at protocols 0-2 and sets before 4 are calls, which the
reader treats as calls). The description: None/True/False, decimal ints, f:<IEEE bits>, s:<UTF-8 hex>,
b:<hex>, (…) tuples, […] lists, {k:v,…} dicts in insertion order, set{…} in iteration order (the order
the pickler wrote them).
"""
import json
import pickle
import pickletools
import struct
import sys
import warnings

CALLS = {"GLOBAL", "STACK_GLOBAL", "REDUCE", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX"}


def describe(value):
    if value is None or value is True or value is False:
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "f:" + struct.pack(">d", value).hex()
    if isinstance(value, str):
        return "s:" + value.encode("utf-8").hex()
    if isinstance(value, (bytes, bytearray)):
        return "b:" + bytes(value).hex()
    if isinstance(value, tuple):
        return "(" + ",".join(describe(v) for v in value) + ")"
    if isinstance(value, list):
        return "[" + ",".join(describe(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(describe(k) + ":" + describe(v) for k, v in value.items()) + "}"
    if isinstance(value, (set, frozenset)):
        return "set{" + ",".join(describe(v) for v in value) + "}"
    raise TypeError(type(value))


shared = [1, "x"]
many = [[i] for i in range(300)]
VALUES = {
    "none": None,
    "bools": (True, False),
    "small ints": [0, 1, 255, 256, 65535, 65536, -1, -256],
    "int32 edges": [2**31 - 1, -2**31, 2**31, -2**31 - 1],
    "int64 edges": [2**63 - 1, -2**63, 2**63, 2**64],
    "big ints": [2**1000, -(2**1000), 2**2100, -(2**2100) + 1, 10**50],
    "floats": [0.0, -0.0, 0.1, 1.5, -2.25, 1e300, 5e-324, 2.2250738585072014e-308, float("inf"), float("-inf"), float("nan")],
    "strings": ["", "cuda:0", "state_dict", "\u00e9t\u00e9", "\u65e5\u672c", "\U0001f389 party", "a\nb", "back\\slash", "tab\there", "\x00nul", "\u0100\u20ac", "x" * 300],
    "bytes": [b"", b"\x00\xff\n", bytes(range(256)) * 2],
    "bytearray": bytearray(b"ab\x00"),
    "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), ((1, (2,)), ())],
    "lists": [[], [None], list(range(1500))],
    "dicts": [{}, {"a": 1, "b": [2]}, {i: str(i) for i in range(1500)}, {(1, 2): {"nested": True}}],
    "sets": [set(), {1, 2, 3}, frozenset({"a"}), set(range(1500)), frozenset(range(1200))],
    "shared references": [shared, shared, (shared,)],
    "memo beyond 256": many + [many[0], many[299]],
}


# Opcodes no Python 3 pickler writes but old files hold; CPython's unpickler decides what they mean.
HAND_WRITTEN = {
    "STRING escaped quote": b"S'it\\'s'\n.",
    "STRING double quotes": b'S"dq"\n.',
    "STRING hex, octal and control escapes": b"S'\\x41\\101\\n\\t\\a\\0'\n.",
    "STRING escaped UTF-8 bytes": b"S'caf\\xc3\\xa9'\n.",
    "STRING unknown escape kept": b"S'\\q\\\\'\n.",
    "STRING unquoted": b"Sunquoted\n.",
    "STRING mismatched quotes": b"S'mismatch\"\n.",
    "STRING bad hex escape": b"S'\\xZZ'\n.",
    "STRING trailing backslash": b"S'a\\'\n.",
    "STRING not UTF-8": b"S'\\xff'\n.",
    "BINSTRING": b"T\x03\x00\x00\x00abc.",
    "SHORT_BINSTRING UTF-8": b"U\x02\xc3\xa9.",
    "SHORT_BINSTRING not UTF-8": b"U\x01\xff.",
    "UNICODE escapes": b"V\\u00e9\\U0001f389\xe9\n.",
    "UNICODE even backslashes stay": b"V\\\\u0041\n.",
    "UNICODE odd run escapes": b"V\\\\\\u0041\n.",
    "UNICODE short escape": b"V\\u12\n.",
    "UNICODE beyond U+10FFFF": b"V\\U00110000\n.",
    "FLOAT inf": b"Finf\n.",
    "FLOAT -inf": b"F-inf\n.",
    "FLOAT Infinity": b"FInfinity\n.",
    "FLOAT overflow": b"F1e400\n.",
    "FLOAT padded": b"F 2.5 \n.",
    "FLOAT word": b"Fabc\n.",
    "FLOAT two signs": b"F--1\n.",
    "INT bools": b"(I01\nI00\ntp0\n.",
    "INT beyond 64 bits": b"I-123456789012345678901234567890\n.",
    "LONG with suffix": b"L123L\n.",
    "STRING control escapes": b"S'\\b\\f\\r\\v'\n.",
    "STRING octal stops after three digits": b"S'\\1234\\7'\n.",
    "STRING eight is no octal digit": b"S'\\8'\n.",
    "STRING hex escape cut short": b"S'\\x4'\n.",
    "STRING one quote": b"S'\n.",
    "STRING empty": b"S''\n.",
    "UNICODE largest code point": b"V\\U0010ffff\n.",
    "UNICODE last of the first plane and first beyond": b"V\\uffff\\U00010000\n.",
    "UNICODE trailing backslash": b"V\\\n.",
    "UNICODE escape without digits": b"V\\u\n.",
    "UNICODE backslash before another letter": b"Va\\b\n.",
    "INT 4300 digits": b"I" + b"9" * 4300 + b"\n.",
    "INT 4301 digits": b"I" + b"9" * 4301 + b"\n.",
    "INT minus 4300 digits": b"I-" + b"9" * 4300 + b"\n.",
    "INT not a number": b"Ix\n.",
    "GET not a number": b"Np0\n0gx\n.",
    "REDUCE across a mark": b"\x80\x02N(K\x01R.",
    "BINUNICODE cut short": b"X\x64\x00\x00\x00ab.",
    "STRING octal then seven": b"S'\\17'\n.",
    "STRING octal then a letter": b"S'\\12a'\n.",
    "SETITEM across a mark": b"\x80\x02}(K\x01s.",
    "TUPLE2 across a mark": b"\x80\x02N(K\x01\x86.",
    "KEY a list": b"\x80\x02}]K\x01s.",
    "KEY a dict": b"\x80\x02}}K\x01s.",
    "KEY a tuple holding a list": b"\x80\x02}]\x85K\x01s.",
    "KEY a frozenset": b"\x80\x04}(K\x01\x91K\x02s.",
    "MEMBER a set added to itself": b"\x80\x04\x8f\x94(h\x00\x90.",
    "MEMBER a list in a frozenset": b"\x80\x04(]\x91.",
    "ADDITEMS into a frozenset": b"\x80\x04(\x91(K\x01\x90.",
}


def loaded():
    warnings.simplefilter("ignore", DeprecationWarning)  # escape_decode's note on "\\q"
    cases = []
    for name, data in HAND_WRITTEN.items():
        try:
            expected = describe(pickle.loads(data, encoding="utf-8"))
        except Exception:
            expected = "refused"
        cases.append({"name": name, "pickle": data.hex(), "expected": expected})
    return cases


def main():
    cases = []
    for protocol in range(6):
        for name, value in VALUES.items():
            data = pickle.dumps(value, protocol=protocol)
            ops = {op.name for op, _, _ in pickletools.genops(data)}
            if ops & CALLS:
                continue
            cases.append({"protocol": protocol, "name": name, "pickle": data.hex(), "expected": describe(value), "ops": sorted(ops)})
    json.dump({"pickled": cases, "loaded": loaded()}, sys.stdout)


main()
