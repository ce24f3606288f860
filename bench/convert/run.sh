#!/usr/bin/env bash
# Benchmark: convert a GPU-tagged checkpoint to the CPU, side by side in one run with `cp` of the
# same file and with the peer users have today (torch.load(map_location='cpu') + torch.save).
# Wall time and peak RSS of each (GNU time), median of RUNS runs, page cache warm for all; dirty
# pages are synced before every run so no contender pays for another's writeback. torchferry
# fsyncs its output before renaming it into place, so `cp + sync` is shown too.
# Writes docs/benchmarks.md's "Convert" section.
#
#   bench/convert/run.sh [SIZES_MIB...]     default: 1024 4096
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
sizes=("${@:-1024 4096}")
read -r -a sizes <<<"${sizes[*]}"
runs=${RUNS:-5}
work=${BENCH_DIR:-/tmp/torchferry-bench}
mkdir -p "$work"
scripts/install-test-deps.sh >/dev/null

dotnet publish src/Cli -c Release -o "$work/torchferry" --nologo -v quiet >/dev/null
ferry="$work/torchferry/torchferry"

measure() { # label, command...: prints "label wall_s rss_kib" for each run
  local label=$1
  shift
  for ((i = 0; i < runs; i++)); do
    rm -f "$work/out.pt"
    sync
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >/dev/null
    echo "$label $(cat "$work/time.txt")"
  done
}

results="$work/results.txt"
: >"$results"
for size in "${sizes[@]}"; do
  src="$work/checkpoint-${size}.pt"
  [[ -f $src ]] || /usr/bin/python3 bench/convert/make_checkpoint.py "$src" "$size"
  bytes=$(stat -c %s "$src")
  cat "$src" >/dev/null # warm the page cache for every contender alike
  measure "$size cp" cp "$src" "$work/out.pt" >>"$results"
  measure "$size cp+sync" sh -c 'cp "$1" "$2" && sync' sh "$src" "$work/out.pt" >>"$results"
  measure "$size torchferry" "$ferry" convert "$src" "$work/out.pt" --device cpu --force >>"$results"
  measure "$size torchferry--no-verify--no-fsync" "$ferry" convert "$src" "$work/out.pt" --device cpu --force --no-verify --no-fsync >>"$results"
  "$ferry" convert "$src" "$work/ours.pt" --device cpu --force >/dev/null
  measure "$size peer" /usr/bin/python3 bench/convert/peer_convert.py "$src" "$work/out.pt" >>"$results"
  mv "$work/out.pt" "$work/peer.pt"
  verified=$(/usr/bin/python3 bench/convert/verify.py "$work/ours.pt" "$work/peer.pt")
  echo "$size bytes $bytes $verified" >>"$results"
  rm -f "$work/ours.pt" "$work/peer.pt"
done

/usr/bin/python3 bench/convert/report.py "$results" "$runs" docs/benchmarks.md
echo "bench/convert: wrote docs/benchmarks.md"
