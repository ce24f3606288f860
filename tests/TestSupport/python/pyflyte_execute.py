"""A stand-in for flytekit's `pyflyte-execute` (and `pyflyte-fast-execute ... --`) in the sandbox's
kubelet: it does what flytekit's entrypoint does with a task's arguments. Reads the inputs LiteralMap
from --inputs, downloads each blob and opens the PyTorch ones with torch.load exactly as the task's
own code would (no map_location), runs the task body from sandbox_tasks, uploads returned objects
with torch.save under --raw-output-data-prefix/<random>/ and writes outputs.pb under --output-prefix
(error.pb on failure, exit 0 unless FLYTE_FAIL_ON_ERROR is true, as flytekit does).

A GPU is visible when the kubelet set NVIDIA_VISIBLE_DEVICES (the device plugin's doing); torch.save
then records cuda:0 on every storage (the machine has no GPU, so the location is tagged the way
PyTorch's own registry tags it), and this machine's torch.load of such a file fails as it does on a
CPU node."""
import io
import os
import sys
import tempfile
import traceback
import uuid

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flyte_literals  # noqa: E402
import object_store  # noqa: E402
import sandbox_tasks  # noqa: E402


def gpu_visible():
    return os.environ.get("NVIDIA_VISIBLE_DEVICES", "") not in ("", "void", "none")


def tag_cuda(obj):
    # torch's own cuda tagger returns a fresh string for every storage; so does this one.
    return ("cuda:0" + " ")[:-1]


def parse(argv):
    if argv and argv[0] == "pyflyte-fast-execute":
        # --additional-distribution URI --dest-dir DIR -- pyflyte-execute ...: the code is already here.
        argv = argv[argv.index("--") + 1:]
    if not argv or argv[0] not in ("pyflyte-execute", "pyflyte-map-execute"):
        raise SystemExit(f"pyflyte-execute stand-in: expected pyflyte-execute or pyflyte-map-execute, got {argv[:1]}")
    options, at = {}, 1
    while at < len(argv) and argv[at] != "--":
        options[argv[at]] = argv[at + 1]
        at += 2
    rest = argv[at + 1:]
    options["task-name"] = rest[rest.index("task-name") + 1]
    if argv[0] == "pyflyte-map-execute":
        # Legacy map subtasks share one --output-prefix; flytekit appends the subtask's index.
        index = os.environ[os.environ.get("BATCH_JOB_ARRAY_INDEX_VAR_NAME", "FLYTE_K8S_ARRAY_INDEX")]
        options["--output-prefix"] = options["--output-prefix"].rstrip("/") + "/" + index
    return options


def load_inputs(uri, task):
    map_location = sandbox_tasks.MAP_LOCATION.get(task)
    how = f"torch.load(map_location={map_location!r}) as flytekit's typed loaders do" if map_location else "a plain torch.load"
    inputs, opened = {}, []
    index = os.environ.get("FLYTE_K8S_ARRAY_INDEX")
    for name, literal in flyte_literals.decode_literal_map(object_store.read(uri)).items():
        if index is not None and "collection" in literal:
            # A map task's subtask takes its own item of every list input, as flytekit's map task does.
            literal = literal["collection"][int(index)]
        if "blob" in literal:
            blob = literal["blob"]
            data = object_store.read(blob["uri"])
            value = torch.load(io.BytesIO(data), map_location=map_location)  # a FlyteFile's task passes none
            devices = sorted({str(t.device) for t in tensors(value)})
            opened.append((name, blob["uri"], devices, how))
            inputs[name] = value
        elif "primitive" in literal:
            inputs[name] = literal["primitive"]
    return inputs, opened


def tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from tensors(item)


def save(options, name, kind, value):
    uri = f"{options['--raw-output-data-prefix'].rstrip('/')}/{uuid.uuid4().hex[:20]}/{name.replace('[', '-').replace(']', '')}"
    buffer = io.BytesIO()
    torch.save(value, buffer)
    object_store.write(uri, buffer.getvalue())
    print(f"pyflyte-execute: output {name} ({kind}) saved{' on cuda:0' if gpu_visible() else ''} to {uri}", flush=True)
    return {"blob": {"uri": uri, "format": kind}}


def main(argv):
    options = parse(argv)
    output_prefix = options["--output-prefix"].rstrip("/")
    try:
        inputs, opened = load_inputs(options["--inputs"], options["task-name"])
        for name, uri, devices, how in opened:
            print(f"pyflyte-execute: input {name} loaded with {how} from {uri}: tensors on {','.join(devices) or 'none'}", flush=True)
        task = sandbox_tasks.TASKS[options["task-name"]]
        if gpu_visible():
            torch.serialization.register_package(0, tag_cuda, lambda obj, location: None)
        results = task(inputs, "cuda:0" if gpu_visible() else "cpu")
        literals = {}
        for name, (kind, value) in results.items():
            if kind == "primitive":
                literals[name] = {"primitive": value}
                continue
            if kind == "collection":
                literals[name] = {"collection": [save(options, f"{name}[{i}]", k, v) for i, (k, v) in enumerate(value)]}
                continue
            literals[name] = save(options, name, kind, value)
        object_store.write(output_prefix + "/outputs.pb", flyte_literals.encode_literal_map(literals))
        return 0
    except Exception as e:  # flytekit records user errors in error.pb
        traceback.print_exc()
        message = f"{type(e).__name__}: {e}"
        error = flyte_literals._field(1, 2, flyte_literals._field(1, 2, b"USER:RuntimeError") + flyte_literals._field(2, 2, message.encode("utf-8")) + flyte_literals._field(3, 0, flyte_literals._varint(1)))
        object_store.write(output_prefix + "/error.pb", error)
        return 1 if os.environ.get("FLYTE_FAIL_ON_ERROR", "").lower() == "true" else 0


if __name__ == "__main__":
    tempfile.tempdir = os.environ.get("TMPDIR") or None
    sys.exit(main(sys.argv[1:]))
