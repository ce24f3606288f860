#!/usr/bin/env bash
# Benchmark: convert a GPU-tagged checkpoint to the CPU, side by side in one run with `cp` of the
# same file and with the peer users have today (torch.load(map_location='cpu') + torch.save), on
# this machine's ext4 and on a loop-mounted XFS with reflink (mkfs.xfs -m reflink=1; root, xfsprogs).
# Wall time and peak RSS of each (GNU time), median of RUNS runs, page cache warm for all; dirty
# pages are synced before every run so no contender pays for another's writeback. torchferry
# fsyncs its output before renaming it into place, so `cp + sync` is shown too.
# Writes docs/benchmarks.md's "Convert" section.
#
#   bench/convert/run.sh [SIZES_MIB...]     default: 1024 4096
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("${@:-1024 4096}")
read -r -a sizes <<<"${sizes[*]}"
runs=${RUNS:-5}
work=${BENCH_DIR:-/tmp/torchferry-bench}
mkdir -p "$work"
scripts/install-test-deps.sh >/dev/null

# The CLI as the image holds it (compiled natively).
scripts/publish.sh "$work/app" "$(dpkg --print-architecture)" >/dev/null
ferry="$work/app/cli/torchferry"

measure() { # label, output, command...: prints "label wall_s rss_kib" for each run
  local label=$1 out=$2
  shift 2
  for ((i = 0; i < runs; i++)); do
    rm -f "$out"
    sync
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >/dev/null
    echo "$label $(cat "$work/time.txt")"
  done
}

settled_free() { # bytes free once XFS has reclaimed what was deleted (it does so in the background)
  local before after
  sync
  after=$(df -B1 --output=avail "$1" | tail -1)
  for ((i = 0; i < 50; i++)); do
    sleep 0.2
    before=$after
    sync
    after=$(df -B1 --output=avail "$1" | tail -1)
    [[ $after == "$before" ]] && break
  done
  echo "$after"
}

results="$work/results.txt"
: >"$results"

# XFS with reflink: a sparse image, loop-mounted for the run.
xfs="$work/xfs"
mkdir -p "$xfs"
rm -f "$work/xfs.img"
truncate -s 24G "$work/xfs.img"
/usr/sbin/mkfs.xfs -q -f -m reflink=1 "$work/xfs.img"
mount -o loop "$work/xfs.img" "$xfs"
trap 'umount "$xfs"; rm -f "$work/xfs.img"' EXIT
cp samples/checkpoint-cuda.pt "$xfs/small.pt"
measure "small xfs-torchferry" "$xfs/out.pt" "$ferry" convert "$xfs/small.pt" "$xfs/out.pt" --device cpu --force >>"$results"

for size in "${sizes[@]}"; do
  src="$work/checkpoint-${size}.pt"
  [[ -f $src ]] || /usr/bin/python3 bench/convert/make_checkpoint.py "$src" "$size"
  bytes=$(stat -c %s "$src")

  # ext4
  cat "$src" >/dev/null # warm the page cache for every contender alike
  measure "$size cp" "$work/out.pt" cp "$src" "$work/out.pt" >>"$results"
  measure "$size cp+sync" "$work/out.pt" sh -c 'cp "$1" "$2" && sync' sh "$src" "$work/out.pt" >>"$results"
  measure "$size torchferry" "$work/out.pt" "$ferry" convert "$src" "$work/out.pt" --device cpu --force >>"$results"
  measure "$size torchferry--no-verify--no-fsync" "$work/out.pt" "$ferry" convert "$src" "$work/out.pt" --device cpu --force --no-verify --no-fsync >>"$results"
  "$ferry" convert "$src" "$work/ours.pt" --device cpu --force >/dev/null
  measure "$size peer" "$work/out.pt" /usr/bin/python3 bench/convert/peer_convert.py "$src" "$work/out.pt" >>"$results"
  mv "$work/out.pt" "$work/peer.pt"
  verified=$(/usr/bin/python3 bench/convert/verify.py "$work/ours.pt" "$work/peer.pt")
  echo "$size bytes $bytes $verified" >>"$results"
  rm -f "$work/ours.pt"

  # XFS with reflink: the source written there (not cloned), then converted there.
  cp "$src" "$xfs/src.pt"
  sync
  measure "$size xfs-cp--reflink" "$xfs/out.pt" cp --reflink=always "$xfs/src.pt" "$xfs/out.pt" >>"$results"
  measure "$size xfs-torchferry" "$xfs/out.pt" "$ferry" convert "$xfs/src.pt" "$xfs/out.pt" --device cpu --force >>"$results"
  if [[ $size == "${sizes[0]}" ]]; then
    measure "$size xfs-peer" "$xfs/out.pt" /usr/bin/python3 bench/convert/peer_convert.py "$xfs/src.pt" "$xfs/out.pt" >>"$results"
  fi
  rm -f "$xfs/out.pt"
  free_before=$(settled_free "$xfs")
  "$ferry" convert "$xfs/src.pt" "$xfs/out.pt" --device cpu --force >"$work/xfs-convert.txt"
  free_after=$(settled_free "$xfs")
  verified=$(/usr/bin/python3 bench/convert/verify.py "$xfs/out.pt" "$work/peer.pt")
  echo "$size xfs-disk $((free_before - free_after)) $verified; $(sed 's/.*; //' "$work/xfs-convert.txt")" >>"$results"
  rm -f "$xfs/out.pt" "$xfs/src.pt" "$work/peer.pt"
done

/usr/bin/python3 bench/convert/report.py "$results" "$runs" docs/benchmarks.md
echo "bench/convert: wrote docs/benchmarks.md"
