"""PyTorch as a test peer for TorchFerry, driven over stdin/stdout with one JSON object per line.

Commands:
  {"cmd": "make", "case": NAME, "path": P, "tagger": "fresh"|"constant", "location": "cuda:0"}
      Builds the fixture object, keeps it in memory and saves it to P as if on a GPU.
  {"cmd": "load_error", "path": P}       torch.load(P) without map_location; returns the error text.
  {"cmd": "compare", "case": NAME, "path": P}
      Loads P without map_location and compares it with the kept object: structure, values,
      dtype, shape, stride, storage offset, shared storages; every tensor must be on the CPU.
  {"cmd": "describe", "path": P}          Loads with map_location='cpu', recording each storage's
      location, and lists tensors the way TorchFerry names their paths.
  {"cmd": "weights_only_globals"}         The globals this torch's weights_only loader allows.
"load_error" and "compare" take "weights_only": true to load as torch >= 2.6 does by default;
"compare" takes "plain": true to expect user objects as the plain values they hold (a dataclass
as its dict, a NamedTuple as a tuple, a dict or list subclass as a dict or list).
"""
import collections
import dataclasses
import io
import json
import os
import sys
import zipfile

import numpy

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torchferry_fixture_models as models  # noqa: E402

TAG = {"location": None, "constant": False}
CONSTANT_LOCATIONS = {}


def _tagger(obj):
    location = TAG["location"]
    if location is None:
        return None
    if TAG["constant"]:
        # One string object for every storage: the pickler memoizes it (BINPUT once, BINGET after).
        return CONSTANT_LOCATIONS.setdefault(location, location)
    if isinstance(location, list):
        TAG["next"] = TAG.get("next", -1) + 1
        chosen = location[TAG["next"] % len(location)]
        return (chosen + " ")[:-1]
    # Torch's own cuda tagger builds a fresh string per storage.
    return (location + " ")[:-1]


torch.serialization.register_package(0, _tagger, lambda obj, location: None)
OBJECTS = {}


def _adam_checkpoint(hyper):
    torch.manual_seed(1)
    net = models.Net()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(2, 6)).sum().backward()
    optimizer.step()
    checkpoint = {"module_state_dict": net.state_dict(), "optimizer_state_dict": optimizer.state_dict()}
    checkpoint.update(hyper)
    return checkpoint


def build(case):
    torch.manual_seed(0)
    if case == "tensor":
        return torch.randn(4, 5)
    if case == "module":
        return models.Net()
    if case == "checkpoint_dict":
        return _adam_checkpoint({"epochs": 10, "learning_rate": 0.001, "name": "resnet", "tags": ["a", "b"], "nested": {"k": 1}})
    if case == "checkpoint_namedtuple":
        return _adam_checkpoint(models.Hyper(epochs=3, learning_rate=0.5, name="nt")._asdict())
    if case == "checkpoint_dataclass":
        return _adam_checkpoint(dataclasses.asdict(models.HyperData(batch_size=32, dropout=0.1, layers=[64, 32])))
    if case == "checkpoint_held":
        # Hyperparameters kept as the user's own objects, as Lightning and hand-written loops do;
        # no floats anywhere in the pickle (torch 1.13's weights_only loader has no BINFLOAT).
        torch.manual_seed(1)
        extras = models.AttrDict(seed=7)
        extras["tags"] = models.TagList(["a", "b"])
        return {
            "module_state_dict": models.Net().state_dict(),
            "hyper_parameters": models.Settings(batch_size=32, layers=[64, 32], name="run", shuffle=True),
            "schedule": models.Schedule(steps=100, mode="fit"),
            "extras": extras,
            "empty": models.Empty(),
            "epoch": 3,
        }
    if case == "tied_weights":
        return models.TiedNet()
    if case == "views":
        base = torch.arange(20, dtype=torch.float32)
        return {"base": base, "tail": base[5:], "middle": base[3:9].view(2, 3), "step": base[1::4]}
    if case == "noncontiguous":
        m = torch.randn(6, 8)
        return {"transposed": m.t(), "strided": m[:, ::2], "expanded": torch.randn(3, 1).expand(3, 4), "permuted": torch.randn(2, 3, 4).permute(2, 0, 1)}
    if case == "scalars_and_empty":
        return {"scalar": torch.tensor(3.5), "int_scalar": torch.tensor(-2, dtype=torch.int64), "empty": torch.empty(0), "empty2d": torch.empty(2, 0, dtype=torch.int32)}
    if case == "dtypes":
        out = collections.OrderedDict()
        for dtype in [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8]:
            out[str(dtype).replace("torch.", "")] = (torch.randn(3, 4) * 50).to(dtype)
        out["bool"] = torch.randn(5) > 0
        out["complex64"] = torch.randn(4, dtype=torch.complex64)
        return out
    if case in ("deflated", "archive_root", "constant_tagger", "protocol3", "protocol4", "protocol5", "multi_device"):
        return _adam_checkpoint({"epochs": 2})
    if case == "large":
        # Big enough (24 MiB of storages) for server-side copies of 5 MiB parts to kick in.
        return {"module_state_dict": {"embedding": torch.randn(2048, 2048), "head": torch.randn(1024, 1024), "bias": torch.randn(7)}, "epochs": 1}
    if case == "huge":
        # 2 GiB of storages (64 of 32 MiB) for scenarios that need a conversion to take seconds.
        # torch.zeros maps zero pages: making it costs disk, not memory.
        return {"model": {"w%d" % i: torch.zeros(8 * 1024 * 1024) for i in range(64)}, "epochs": 1}
    if case in ("containers", "containers_p4"):
        # Every way a tensor is reached: lists, tuples, a set, a NamedTuple, an object's attributes,
        # dict and list subclasses, a module's plain attributes, a bare Parameter.
        return {
            "listed": [torch.randn(2), torch.randn(3)],
            "tupled": (torch.randn(2), [torch.randn(1, 2)]),
            "set": {torch.randn(2)},
            "pair": models.Pair(left=torch.randn(2), right=torch.randn(4)),
            "holder": models.Holder(torch.randn(3)),
            "attrs": models.AttrDict(w=torch.randn(2)),
            "tags": models.TagList([torch.randn(5)]),
            "masked": models.Masked(),
            "param": nn.Parameter(torch.randn(2)),
            "ints": [1, 2, 3],
            "empty": [],
            "nothing": {},
        }
    if case == "empty_dict":
        return {}
    if case == "mixed_dict":
        return {"w": torch.randn(2), "n": 1}
    if case == "sparse":
        return {"dense": torch.randn(2), "s": torch.randn(3, 3).to_sparse()}
    if case in ("hyper_values", "hyper_values_p3"):
        deep32, deepd32 = "x", "x"
        for _ in range(32):
            deep32, deepd32 = [deep32], {"k": deepd32}
        deep33, deepd33 = [deep32], {"k": deepd32}
        nested_key = 0
        for _ in range(10):
            nested_key = (nested_key,)
        return {
            "module_state_dict": {}, "none": None, "yes": True, "raw": b"abc", "no_bytes": b"", "labels": {"a"},
            "frozen": frozenset({"b"}), "dtype": torch.float16, "deepd32": deepd32, "deepd33": deepd33, False: "f",
            "storage": torch.zeros(3).storage(), "sparse": torch.zeros(2, 2).to_sparse(),
            "max": 2**63 - 1, "min": -2**63, "big": 2**63, "below": -2**63 - 1,
            "wide": 2**14283, "wider": 2**14284, "inf": float("inf"), "nan": float("nan"),
            "tensor": torch.zeros(2, 3, dtype=torch.int16), "obj": models.Empty(),
            "deep32": deep32, "deep33": deep33,
            True: "t", None: "n", 0.5: "h", (1, "a", (2,)): "tuple", (b"x",): "bytes",
            nested_key: "nested", "k" * 300: "long",
        }
    if case == "hyper_budget_list":
        return {"module_state_dict": {}, "values": list(range(10_001)), "after": 1}
    if case == "hyper_budget_dict":
        return {"module_state_dict": {}, "table": {"k%d" % i: i for i in range(10_001)}}
    if case.startswith("nested_lists_"):
        sys.setrecursionlimit(10_000)  # the pickler recurses a few frames per level
        value = torch.randn(2)
        for _ in range(int(case.rsplit("_", 1)[1])):
            value = [value]
        return value
    if case in ("references_beside_empties", "references_beside_empties_p4"):
        # 299,999 references to a tensor; empty containers, bytes and scalars hold none and are not
        # counted. Protocol 2 writes the sets and bytes as calls (set([]), bytes()), 4 with opcodes.
        return [torch.zeros(1)] * 299_999 + [{}, {}, [], [], (), (), set(), set(), frozenset(), b"", 1, 2]
    if case.startswith("references_"):
        return [torch.zeros(1)] * int(case.rsplit("_", 1)[1])
    if case.startswith("dict_references_"):
        t = torch.zeros(1)
        return {str(i): t for i in range(int(case.rsplit("_", 1)[1]))}
    if case.startswith("path_characters_"):
        # Paths of exactly 64 MiB in all (the inspector's bound), plus the case's last number: 15 levels
        # of 256-character keys over a list of references, and top-level keys to make up the rest.
        extra = int(case.rsplit("_", 1)[1])
        t = torch.zeros(1)
        chain = ["%03d" % level + "c" * 253 for level in range(15)]
        deepest = len(".".join(chain))
        references = 17_000
        while True:
            used = sum(len(".".join(chain[: level + 1])) for level in range(15))
            used += sum(deepest + 1 + len(str(i)) for i in range(references))
            full, rest = divmod(64 * 1024 * 1024 + extra - used, 256)
            if rest == 0 or rest >= 8:
                break
            references -= 1  # every sibling key needs room for its number
        value = [t] * references
        for key in reversed(chain):
            value = {key: value}
        for i in range(full):
            value["s%06d" % i + "f" * 249] = t
        if rest:
            value["r%06d" % 0 + "f" * (rest - 7)] = t
        return value
    if case == "path_edge":
        # Keys that make a path of exactly 4,096 characters, then one more level.
        keys = ["%03d" % i + "k" * 252 for i in range(15)] + ["k" * 256, "last"]
        value = torch.zeros(1)
        for key in reversed(keys):
            value = {key: value}
        return value
    if case.startswith("nested_"):
        # 257 levels of objects, modules or NamedTuples, each two steps deep: 514 in all.
        sys.setrecursionlimit(20_000)
        kind, levels = case.split("_")[1], int(case.split("_")[2])
        value = torch.zeros(1)
        for _ in range(levels):
            if kind == "boxes":
                value = models.Box(value)
            elif kind == "modules":
                inner, value = value, models.Wrapper()
                if isinstance(inner, torch.Tensor):
                    value.weight = nn.Parameter(inner)
                else:
                    value.inner = inner
            elif kind == "pairs":
                value = models.Pair(left=value, right=torch.zeros(1))
        return value
    if case.startswith("long_keys_"):
        # Keys of 250 characters, nested: the path stops growing past 4,096 characters.
        levels, references = (int(n) for n in case.split("_")[2:])
        value = [torch.zeros(1)] * references if references > 1 else torch.zeros(1)
        for level in reversed(range(levels)):
            value = {"%03d" % level + "k" * 247: value}
        return value
    if case == "zip64_past_4gib":
        # A record of 4 GiB and 64 bytes, then records that start past 4 GiB: torch writes zip64 fields.
        return {"big": torch.zeros(2**30 + 16), "small": torch.ones(2)}
    if case == "zip64_record_of_4gib_less_one":
        # A record of exactly 0xFFFFFFFF bytes: the largest size a 32-bit field holds, which is also zip64's marker.
        return {"edge": torch.zeros(2**32 - 1, dtype=torch.uint8)}
    if case.startswith("zip64_records_"):
        # That many records in all (data.pkl and version among them): 65,535 is the most a 16-bit count holds.
        return [torch.ones(1) for _ in range(int(case.rsplit("_", 1)[1]) - 2)]
    if case == "legacy":
        return {"w": torch.randn(3)}
    if case == "torchscript":
        return torch.jit.script(nn.Linear(3, 2))
    if case == "evil":
        return {"w": torch.randn(3), "payload": Evil()}
    if case == "bomb":
        return {"zeros": torch.zeros(64 * 1024 * 1024)}
    if case in ("shared_location_first", "shared_location_last"):
        return None  # built in make(): needs the tagger's constant string
    raise ValueError("unknown case " + case)


EVIL_MARKER = {"path": None}


class Evil:
    """A pickle payload: unpickling it runs a shell command that writes torchferry-pwned next to the fixture."""

    def __reduce__(self):
        return (os.system, ("echo torchferry-was-here > '%s'" % EVIL_MARKER["path"],))


class _HoleWriter:
    """A file-like torch.save writes through (PyTorchFileWriter calls write, then flush)."""

    def __init__(self, f):
        self.f = f

    def write(self, data):
        if len(data) >= 1 << 20 and not numpy.frombuffer(data, dtype=numpy.uint8).any():
            self.f.seek(len(data), 1)
        else:
            self.f.write(data)
        return len(data)

    def flush(self):
        self.f.flush()


def save(obj, path, case):
    if case == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
        return
    if case == "torchscript":
        torch.jit.save(obj, path)
        return
    protocol = {"protocol3": 3, "protocol4": 4, "protocol5": 5}.get(case, int(case[-1]) if case[-3:-1] == "_p" else 2)
    if case.startswith("zip64_"):
        # Through torch's own writer into a sparse file: zeros written in one call of a MiB or more
        # (a storage's bytes) become holes, so 4 GiB records take no disk; every header is as torch wrote it.
        with open(path, "wb") as f:
            torch.save(obj, _HoleWriter(f), pickle_protocol=protocol)
            f.truncate()
        return
    if case == "archive_root":
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        with open(path, "wb") as f:
            f.write(buffer.getvalue())
        return
    torch.save(obj, path, pickle_protocol=protocol)
    if case in ("deflated", "bomb"):
        # Re-zip every record with deflate, as Python's zipfile or TorchSharp would write it.
        with zipfile.ZipFile(path) as src:
            records = [(info.filename, src.read(info.filename)) for info in src.infolist()]
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as dst:
            for name, data in records:
                dst.writestr(name, data)


def make(request):
    case, path = request["case"], request["path"]
    location = request.get("location", "cuda:0")
    TAG["location"] = location.split(",") if "," in location else location
    TAG["constant"] = request.get("tagger") == "constant"
    TAG.pop("next", None)
    try:
        if case.startswith("shared_location"):
            location = CONSTANT_LOCATIONS.setdefault(TAG["location"], TAG["location"])
            TAG["constant"] = True
            states = _adam_checkpoint({})
            hyper = {"device": location, "devices": [location, location]}
            obj = dict(hyper, **states) if case == "shared_location_first" else dict(states, **hyper)
        else:
            EVIL_MARKER["path"] = os.path.join(os.path.dirname(os.path.abspath(path)), "torchferry-pwned")
            obj = build(case)
        save(obj, path, case)
    finally:
        TAG["location"] = None
    if case != "huge":  # compared by loading, not kept: 2 GiB
        OBJECTS[case] = obj
    return {"path": path}


def _load(request, **kwargs):
    if request.get("weights_only"):
        kwargs["weights_only"] = True
    return torch.load(request["path"], **kwargs)


def _plain(value):
    if isinstance(value, torch.Tensor):
        return value
    if dataclasses.is_dataclass(value) or isinstance(value, models.Empty):
        return {key: _plain(item) for key, item in vars(value).items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return tuple(_plain(item) for item in value)
    if isinstance(value, collections.OrderedDict):
        return collections.OrderedDict((key, _plain(item)) for key, item in value.items())
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    return value


def weights_only_globals(request):
    import torch._weights_only_unpickler as unpickler
    return {"globals": sorted(unpickler._get_allowed_globals().keys())}


def load_error(request):
    try:
        _load(request)
        return {"error": None}
    except Exception as e:  # the message is what the test asserts on
        return {"error": "%s: %s" % (type(e).__name__, e)}


def _compare(expected, actual, path, problems, pairs):
    if isinstance(expected, torch.Tensor):
        if not isinstance(actual, torch.Tensor):
            problems.append("%s: expected a tensor, got %s" % (path, type(actual).__name__))
            return
        if type(expected) is not type(actual):
            problems.append("%s: type %s != %s" % (path, type(actual).__name__, type(expected).__name__))
        if actual.device.type != "cpu":
            problems.append("%s: on %s, not cpu" % (path, actual.device))
        if actual.dtype != expected.dtype:
            problems.append("%s: dtype %s != %s" % (path, actual.dtype, expected.dtype))
        if actual.shape != expected.shape or actual.stride() != expected.stride():
            problems.append("%s: shape/stride %s/%s != %s/%s" % (path, tuple(actual.shape), actual.stride(), tuple(expected.shape), expected.stride()))
        if actual.storage_offset() != expected.storage_offset():
            problems.append("%s: storage offset %d != %d" % (path, actual.storage_offset(), expected.storage_offset()))
        if actual.requires_grad != expected.requires_grad:
            problems.append("%s: requires_grad differs" % path)
        if not torch.equal(actual.detach(), expected.detach()):
            problems.append("%s: values differ" % path)
        pairs.append((expected, actual, path))
        return
    if isinstance(expected, nn.Module):
        if type(actual) is not type(expected):
            problems.append("%s: module type %s != %s" % (path, type(actual).__name__, type(expected).__name__))
            return
        _compare(dict(vars(expected)), dict(vars(actual)), path, problems, pairs)
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or list(expected.keys()) != list(actual.keys()):
            problems.append("%s: keys %s != %s" % (path, list(getattr(actual, "keys", lambda: [])()), list(expected.keys())))
            return
        if type(expected) is not type(actual):
            problems.append("%s: %s != %s" % (path, type(actual).__name__, type(expected).__name__))
        for key in expected:
            _compare(expected[key], actual[key], "%s.%s" % (path, key) if path else str(key), problems, pairs)
        return
    if isinstance(expected, (list, tuple)):
        if type(expected) is not type(actual) or len(expected) != len(actual):
            problems.append("%s: sequence differs" % path)
            return
        for i, (e, a) in enumerate(zip(expected, actual)):
            _compare(e, a, "%s.%d" % (path, i) if path else str(i), problems, pairs)
        return
    if callable(expected) and not isinstance(expected, (str, bytes)):
        return  # hooks and similar: identity, not value
    if expected != actual:
        problems.append("%s: %r != %r" % (path, actual, expected))


def compare(request):
    actual = _load(request)
    expected = OBJECTS[request["case"]]
    if request.get("plain"):
        expected = _plain(expected)
    problems, pairs = [], []
    _compare(expected, actual, "", problems, pairs)
    # Tensors that shared a storage before must share one after (tied weights, views).
    for i, (e1, a1, p1) in enumerate(pairs):
        for e2, a2, p2 in pairs[i + 1:]:
            same_before = e1.storage().data_ptr() == e2.storage().data_ptr() and e1.numel() > 0 and e2.numel() > 0
            same_after = a1.storage().data_ptr() == a2.storage().data_ptr() and a1.numel() > 0 and a2.numel() > 0
            if same_before != same_after:
                problems.append("%s and %s: storage sharing %s before, %s after" % (p1, p2, same_before, same_after))
    return {"ok": not problems, "problems": problems, "tensors": len(pairs)}


def _walk(value, path, out, seen):
    if isinstance(value, torch.Tensor):
        out.append({
            "path": path,
            "dtype": str(value.dtype).replace("torch.", ""),
            "shape": list(value.shape),
            "stride": list(value.stride()),
            "storageOffset": value.storage_offset(),
            "location": _location_of(value),
            "bytes": value.numel() * value.element_size(),
            "isParameter": isinstance(value, nn.Parameter),
        })
        return
    if id(value) in seen:
        return
    seen.add(id(value))
    join = lambda key: "%s.%s" % (path, key) if path else str(key)
    if isinstance(value, nn.Module):
        for name in ("_parameters", "_buffers", "_modules"):
            for key, item in getattr(value, name).items():
                _walk(item, join(key), out, seen)
        for key, item in vars(value).items():
            if key not in ("_parameters", "_buffers", "_modules"):
                _walk(item, join(key), out, seen)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(item, join(key), out, seen)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for i, item in enumerate(value):
            _walk(item, join(i), out, seen)
    elif hasattr(value, "__dict__"):
        for key, item in vars(value).items():
            _walk(item, join(key), out, seen)
    seen.discard(id(value))


LOCATIONS = {}


def _location_of(tensor):
    location = LOCATIONS.get(tensor.storage().data_ptr())
    if location is None and len(set(LOCATIONS.values())) == 1:
        # Empty storages have no data pointer to tell them apart; one location fits all.
        location = next(iter(LOCATIONS.values()))
    return location or "?"


def describe(request):
    LOCATIONS.clear()
    recorded = []

    def remember(storage, location):
        recorded.append((storage, location))
        return storage

    obj = torch.load(request["path"], map_location=remember)
    for storage, location in recorded:
        LOCATIONS[storage.data_ptr()] = location
    out = []
    _walk(obj, "", out, set())
    return {"tensors": out, "locations": sorted(location for _, location in recorded)}


COMMANDS = {"make": make, "load_error": load_error, "compare": compare, "describe": describe, "weights_only_globals": weights_only_globals}


def main():
    print(json.dumps({"ready": torch.__version__}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            response = COMMANDS[request["cmd"]](request)
        except Exception as e:
            response = {"failure": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(response), flush=True)


if __name__ == "__main__":
    main()
