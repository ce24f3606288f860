#!/usr/bin/env bash
# Benchmark: admission latency of torchferry-webhook under open-loop load on loopback, at 200 and
# 1,000 AdmissionReviews a second for 60 s each (a GPU Flyte pod matched by a DeviceProfile, so every
# request computes a patch). p50/p99/p99.9, errors, and the server's RSS at start, peak and end.
# The load generator (bench/WebhookBench) runs on the same 2 cores as the server.
#
#   bench/webhook/run.sh [SECONDS]     default 60
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
work=${BENCH_DIR:-/tmp/torchferry-bench}/webhook
rm -rf "$work" && mkdir -p "$work/profiles"
dotnet publish src/Webhook -c Release -o "$work/server" --nologo -v quiet >/dev/null
dotnet publish bench/WebhookBench -c Release -o "$work/load" --nologo -v quiet >/dev/null
"$work/load/webhookbench" cert "$work"
cp config/samples/deviceprofile-gpu.yaml "$work/profiles/"
"$work/server/torchferry-webhook" --listen 127.0.0.1:18443 --tls-cert-file "$work/tls.crt" --tls-key-file "$work/tls.key" \
  --profiles-dir "$work/profiles" --serializer-image ghcr.io/torchferry/torchferry:bench >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -skf https://127.0.0.1:18443/healthz >/dev/null 2>&1 && break; sleep 0.2; done
"$work/load/webhookbench" load https://127.0.0.1:18443 200 10 $server "$work/tls.crt" >/dev/null # warm-up
results="$work/results.txt"
: >"$results"
for rate in 200 1000; do
  "$work/load/webhookbench" load https://127.0.0.1:18443 "$rate" "$seconds" $server "$work/tls.crt" >>"$results"
done
/usr/bin/python3 - "$results" docs/benchmarks.md <<'PY'
import datetime, os, sys
sys.path.insert(0, "bench")
from section import replace_section
results, target = sys.argv[1], sys.argv[2]
lines = [
    "## Webhook: admission latency under load (issue: the admission webhook)",
    "",
    "`bench/webhook/run.sh`: open-loop load from `bench/WebhookBench` (HTTPS, pooled connections) on loopback against "
    "`torchferry-webhook` with one DeviceProfile; every request is a GPU Flyte pod that gets a patch. Load generator and server "
    "share the %d cores; run %s UTC." % (os.cpu_count(), datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")),
    "",
    "| rate (req/s) | seconds | answered | errors | p50 (ms) | p99 (ms) | p99.9 (ms) | server RSS start / peak / end (MiB) |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
]
for line in open(results):
    rate, seconds, answered, errors, p50, p99, p999, start, peak, end = line.strip().split("|")
    lines.append("| %s | %s | %s | %s | %s | %s | %s | %s / %s / %s |" % (rate, seconds, answered, errors, p50, p99, p999, start, peak, end))
lines += ["", "Goal: p99 under 5 ms at 1,000 requests a second on these 2 cores, no errors, memory flat over a 60-second run."]
replace_section(target, "\n".join(lines) + "\n")
PY
echo "bench/webhook: wrote docs/benchmarks.md"
