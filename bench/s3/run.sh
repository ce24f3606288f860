#!/usr/bin/env bash
# Benchmark: a GPU-tagged checkpoint on an S3 server converted S3 to S3, side by side in one run with
# a plain download-and-upload of the same object through the SDK. Wall time and peak RSS (GNU time),
# bytes through each process. Both use 8 MiB parts (TorchFerry's default). Two stores: s3rver as it is (no UploadPartCopy: TorchFerry streams)
# and s3rver behind the test proxy that answers UploadPartCopy (server-side copy works). Then the
# requests one conversion with server-side copy makes, counted by the proxy, at SIZE_MIB and LARGE_MIB.
#
#   bench/s3/run.sh [SIZE_MIB [LARGE_MIB]]     default 1024 10240
set -euo pipefail
cd "$(dirname "$0")/../.."
size=${1:-1024}
large=${2:-10240}
runs=${RUNS:-3}
work=${BENCH_DIR:-/tmp/torchferry-bench}
mkdir -p "$work"
scripts/install-test-deps.sh >/dev/null

scripts/publish.sh "$work/app" "$(dpkg --print-architecture)" >/dev/null
dotnet publish bench/S3Bench -c Release -o "$work/s3bench" --nologo -v quiet >/dev/null
ferry="$work/app/cli/torchferry"
s3bench="$work/s3bench/s3bench"

src="$work/checkpoint-${size}.pt"
[[ -f $src ]] || /usr/bin/python3 bench/convert/make_checkpoint.py "$src" "$size"

coproc SERVE { "$s3bench" serve; }
read -r direct proxied <&"${SERVE[0]}"
trap 'exec {SERVE[1]}>&-; wait' EXIT
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
"$s3bench" put "$direct" bench/gpu.pt "$src"

results="$work/s3-results.txt"
: >"$results"
: >"$work/s3-requests.txt"
measure() { # label endpoint command...
  local label=$1 endpoint=$2
  shift 2
  for ((i = 0; i < runs; i++)); do
    AWS_ENDPOINT_URL_S3=$endpoint /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >"$work/out.txt"
    local through
    through=$(grep -oE '[0-9.]+ [KMG]?i?B through this process|[0-9]+ bytes through this process' "$work/out.txt" | head -1)
    echo "$label|$(cat "$work/time.txt")|$through" >>"$results"
  done
}
measure "sdk download+upload" "$direct" "$s3bench" sdk-copy "$direct" bench/gpu.pt bench/copy.pt 8
measure "torchferry, store without UploadPartCopy" "$direct" "$ferry" convert s3://torchferry-test/bench/gpu.pt s3://torchferry-test/bench/cpu.pt --device cpu --force
measure "torchferry, store with UploadPartCopy" "$proxied" "$ferry" convert s3://torchferry-test/bench/gpu.pt s3://torchferry-test/bench/cpu-ssc.pt --device cpu --force

# The converted objects must load on the CPU.
AWS_ENDPOINT_URL_S3=$direct "$ferry" convert s3://torchferry-test/bench/cpu-ssc.pt "$work/ssc.pt" --device cpu --force --no-fsync >/dev/null
AWS_ENDPOINT_URL_S3=$direct "$ferry" convert s3://torchferry-test/bench/cpu.pt "$work/streamed.pt" --device cpu --force --no-fsync >/dev/null
"$ferry" convert "$src" "$work/local.pt" --device cpu --force --no-fsync >/dev/null
verified="server-side copy: $(/usr/bin/python3 bench/convert/verify.py "$work/ssc.pt" "$work/local.pt"); streamed: $(/usr/bin/python3 bench/convert/verify.py "$work/streamed.pt" "$work/local.pt")"
rm -f "$work/ssc.pt" "$work/streamed.pt" "$work/local.pt"

# Requests of one conversion with server-side copy, as the proxy saw them (a fresh process: it
# probes UploadPartCopy once, as the operator does once in its life).
requests() {
  echo requests >&"${SERVE[1]}"
  while IFS= read -r line <&"${SERVE[0]}"; do
    [[ -z $line ]] && break
    echo "$line"
  done
}
for mib in "$size" "$large"; do
  object="$work/checkpoint-${mib}.pt"
  [[ -f $object ]] || /usr/bin/python3 bench/convert/make_checkpoint.py "$object" "$mib"
  [[ $mib == "$size" ]] || "$s3bench" put "$direct" "bench/gpu-$mib.pt" "$object"
  key=$([[ $mib == "$size" ]] && echo bench/gpu.pt || echo "bench/gpu-$mib.pt")
  requests >/dev/null
  AWS_ENDPOINT_URL_S3=$proxied "$ferry" convert "s3://torchferry-test/$key" "s3://torchferry-test/bench/cpu-$mib.pt" --device cpu --force >"$work/out.txt"
  requests >"$work/requests-$mib.txt"
  # The result: every storage on the CPU (its pickle), every record's CRC intact (read back whole).
  AWS_ENDPOINT_URL_S3=$direct "$ferry" inspect "s3://torchferry-test/bench/cpu-$mib.pt" --json | /usr/bin/python3 -c 'import json,sys; s={x["location"] for x in json.load(sys.stdin)["storages"]}; assert s == {"cpu"}, s'
  AWS_ENDPOINT_URL_S3=$direct "$ferry" convert "s3://torchferry-test/bench/cpu-$mib.pt" "$work/check.pt" --device cpu --force --no-fsync >/dev/null
  rm -f "$work/check.pt"
  echo "$mib|$(stat -c %s "$object")|$(grep -oE '[0-9.]+ [KMG]?i?B through this process' "$work/out.txt" | head -1)|$work/requests-$mib.txt" >>"$work/s3-requests.txt"
  [[ $mib == "$size" ]] || rm -f "$object"
done

/usr/bin/python3 bench/s3/report.py "$results" "$(stat -c %s "$src")" "$runs" "$verified" docs/benchmarks.md "$work/s3-requests.txt"
echo "bench/s3: wrote docs/benchmarks.md"
