#!/usr/bin/env bash
# Benchmark: 100 and 1,000 CheckpointArtifacts registered at once against the API server emulator,
# each a GPU-tagged checkpoint on local disk with target cpu; the operator (in the same process,
# 4 workers, no leader election) converts them all. Time until all are Ready, reconciles per second,
# peak RSS. Writes the "Operator" section of docs/benchmarks.md.
#
#   bench/operator/run.sh [COUNTS...]     default: 100 1000
set -euo pipefail
cd "$(dirname "$0")/../.."
counts=("${@:-100 1000}")
read -r -a counts <<<"${counts[*]}"
work=${BENCH_DIR:-/tmp/torchferry-bench}
mkdir -p "$work"
dotnet publish bench/OperatorBench -c Release -o "$work/operatorbench" --nologo -v quiet >/dev/null
results="$work/operator-results.txt"
: >"$results"
for count in "${counts[@]}"; do
  "$work/operatorbench/operatorbench" "$count" samples/checkpoint-cuda.pt 4 >>"$results"
done
/usr/bin/python3 - "$results" docs/benchmarks.md <<'PY'
import datetime, os, sys
sys.path.insert(0, "bench")
from section import replace_section
results, target = sys.argv[1], sys.argv[2]
lines = [
    "## Operator: artifacts registered at once (issue: CRDs and the operator)",
    "",
    "`bench/operator/run.sh`: N CheckpointArtifacts created at once in the API server emulator, each a copy of "
    "`samples/checkpoint-cuda.pt` (13 KiB, 16 storages on `cuda:0`) on local disk, target `cpu`; the operator runs in the "
    "same process with 4 workers (emulator included in the RSS); %d cores; run %s UTC." % (os.cpu_count(), datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")),
    "",
    "| artifacts | until all Ready (s) | reconciles | reconciles/s | peak RSS (MiB) |",
    "| ---: | ---: | ---: | ---: | ---: |",
]
for line in open(results):
    n, seconds, reconciles, rate, rss = line.strip().split("|")
    lines.append("| %s | %s | %s | %s | %s |" % (n, seconds, reconciles.split(".")[0], rate, rss))
lines += ["", "Each artifact takes two reconciles at least (finalizer, then inspect + convert + status), plus requeues when its own status write comes back through the watch."]
replace_section(target, "\n".join(lines) + "\n")
PY
echo "bench/operator: wrote docs/benchmarks.md"
