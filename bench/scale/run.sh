#!/usr/bin/env bash
# Benchmark: a Flyte cluster's day against the API server emulator, the operator in its own process
# (the published binary, the measured one): PODS Flyte task pods pass through (propeller's size, with
# env and args), ARTIFACTS executions each register a checkpoint that a CPU task consumes, then every
# flyteworkflow is deleted as propeller's GC does. Writes the "Operator at cluster scale" section of
# docs/benchmarks.md.
#
#   bench/scale/run.sh [PODS ARTIFACTS]...     default: 10000 1000 100000 10000
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("${@:-10000 1000 100000 10000}")
read -r -a sizes <<<"${sizes[*]}"
work=${BENCH_DIR:-/tmp/torchferry-bench}
mkdir -p "$work"
dotnet publish bench/ScaleBench -c Release -o "$work/scalebench" --nologo -v quiet >/dev/null
scripts/publish.sh "$work/app" "$(dpkg --print-architecture)" >/dev/null
results="$work/scale-results.txt"
: >"$results"
for ((i = 0; i < ${#sizes[@]}; i += 2)); do
  "$work/scalebench/scalebench" "${sizes[i]}" "${sizes[i + 1]}" samples/checkpoint-cuda.pt "$work/app/operator/torchferry-operator" >>"$results"
done
/usr/bin/python3 - "$results" docs/benchmarks.md <<'PY'
import datetime, os, sys
sys.path.insert(0, "bench")
from section import replace_section
results, target = sys.argv[1], sys.argv[2]
lines = [
    "## Operator at cluster scale: pods passing through, artifacts collected with their workflows (issue 18)",
    "",
    "`bench/scale/run.sh`: the API server emulator in the bench process; the published `torchferry-operator` in its own "
    "process (4 workers, no leader election, local files as the store), the only process measured. Each execution is a "
    "`flyteworkflow` with a GPU task whose `outputs.pb` names a copy of `samples/checkpoint-cuda.pt` (13 KiB, `cuda:0`), "
    "a pending CPU task consuming it (as the webhook leaves it) and other task pods that succeed and are deleted; every pod "
    "is shaped as propeller makes it (labels, owner, pyflyte-execute arguments, 45 environment variables, about 6 KiB). "
    "Then every flyteworkflow is deleted, as propeller's garbage collection does, and the emulator's garbage collector "
    "deletes what they own. %d cores; run %s UTC; one run per size (a run of 100,000 pods takes minutes)." % (os.cpu_count(), datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")),
    "",
    "| pods seen | artifacts | all pods created (s) | all artifacts Ready with a cpu variant (s) | operator API requests per artifact | operator peak RSS at Ready (MiB) | after GC: all artifacts gone (s) | variants left | sources left | pods left | operator RSS after GC (MiB) | goal: RSS < 256 MiB, 0 variants left |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
]
for line in open(results):
    pods, artifacts, created, ready, per, peak_ready, peak, gc, variants, sources, podsleft, rss = line.strip().split("|")
    met = int(peak) < 256 and int(variants) == 0
    lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (pods, artifacts, created, ready, per, peak_ready, gc, variants, sources, podsleft, rss, "met" if met else "**missed** (peak %s MiB, %s variants left)" % (peak, variants)))
lines += [
    "",
    "Requests per artifact count every call the operator made (its pod and artifact LISTs and watches, outputs and "
    "consumer registrations, finalizer, status writes, events, the deletions' cleanup) divided by the artifacts. "
    "The pod cache holds a projection of each pod (no environment, volumes or managed fields), and deleted pods "
    "leave it.",
    "",
    "Where the memory goes (measured at 3,000 artifacts with `dotnet-gcdump`): the live managed heap is about 50 MB at 3,000 artifacts; an idle operator is about 135 MiB of RSS (the runtime, JIT-compiled code, ASP.NET Core for /metrics and probes, KubernetesClient). "
    "Two changes brought the 100,000-pod run under the goal (it peaked at 267 MiB at Ready and 303 MiB during GC before): a pod the operator has handled stays in the cache as its shell only (name, namespace, uid, version), which took the peak at Ready from 267 to 211 MiB; "
    "and the chart runs the operator with a 4 MiB gen0 budget (`DOTNET_GCgen0size=0x400000`, read from the chart's Deployment by this bench): without it the default budget, sized from the CPU's cache, let the GC phase peak at 257 MiB. "
    "Not measured here: the API server's own cost, and a cluster's network latency (the emulator answers in microseconds).",
]
replace_section(target, "\n".join(lines) + "\n")
PY
echo "bench/scale: wrote docs/benchmarks.md"
