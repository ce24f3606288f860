#!/usr/bin/env bash
# Benchmark: admission latency of torchferry-webhook (published as the image holds it) under
# open-loop load on loopback: SECONDS at 200 and at 1,000 AdmissionReviews a second, then a soak of
# SOAK_SECONDS at 500 (a GPU Flyte pod matched by a DeviceProfile, so every request computes a
# patch). p50/p99/p99.9 of a warm client (its first 3 s are sent, not counted: the API server keeps
# its connections), the cold client's p99 and worst, errors, the server's RSS at start, peak and
# end, and what each admission allocates (/metrics). The load generator (bench/WebhookBench) runs
# on the same 2 cores as the server.
#
#   bench/webhook/run.sh [SECONDS [SOAK_SECONDS]]     default 60 600
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
soak=${2:-600}
work=${BENCH_DIR:-/tmp/torchferry-bench}/webhook
rm -rf "$work" && mkdir -p "$work/profiles"
scripts/publish.sh "$work/app" "$(dpkg --print-architecture)" >/dev/null
dotnet publish bench/WebhookBench -c Release -o "$work/load" --nologo -v quiet >/dev/null
"$work/load/webhookbench" cert "$work"
cp config/samples/deviceprofile-gpu.yaml "$work/profiles/"
"$work/app/webhook/torchferry-webhook" --listen 127.0.0.1:18443 --tls-cert-file "$work/tls.crt" --tls-key-file "$work/tls.key" \
  --profiles-dir "$work/profiles" --prepare-inputs-image ghcr.io/torchferry/torchferry:bench >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -skf https://127.0.0.1:18443/healthz >/dev/null 2>&1 && break; sleep 0.2; done
"$work/load/webhookbench" load https://127.0.0.1:18443 200 10 $server "$work/tls.crt" >/dev/null # the server's warm-up

scrape() { # allocated bytes, admissions, gen0, gen1, gen2 collections
  curl -sk https://127.0.0.1:18443/metrics | /usr/bin/python3 -c '
import re, sys
text = sys.stdin.read()
def value(pattern):
    m = re.search("^" + pattern + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0
print(int(value("dotnet_gc_allocated_bytes_total")), int(value("torchferry_admission_duration_seconds_count")),
      *(int(value("dotnet_collection_count_total\\{generation=\"%d\"\\}" % g)) for g in range(3)))'
}

results="$work/results.txt"
: >"$results"
for run in "200 $seconds" "1000 $seconds" "500 $soak"; do
  read -r rate length <<<"$run"
  read -r bytes0 count0 g00 g10 g20 <<<"$(scrape)"
  line=$("$work/load/webhookbench" load https://127.0.0.1:18443 "$rate" "$length" $server "$work/tls.crt")
  read -r bytes1 count1 g01 g11 g21 <<<"$(scrape)"
  echo "$line|$(((bytes1 - bytes0) / (count1 - count0)))|$((g01 - g00))/$((g11 - g10))/$((g21 - g20))" >>"$results"
done

/usr/bin/python3 - "$results" docs/benchmarks.md <<'PY'
import datetime, os, sys
sys.path.insert(0, "bench")
from section import replace_section
results, target = sys.argv[1], sys.argv[2]
lines = [
    "## Webhook: admission latency under load (issues: the admission webhook; 15, admission without tail pauses)",
    "",
    "`bench/webhook/run.sh`: open-loop load from `bench/WebhookBench` (HTTPS, pooled HTTP/1.1 connections) on loopback against "
    "the published `torchferry-webhook` (ReadyToRun, as in the image) with one DeviceProfile; every request is a GPU Flyte pod that gets a patch. "
    "Load generator and server share the %d cores; run %s UTC. Latencies are a warm client's: its first 3 s at the same rate are "
    "sent but not counted, as the API server keeps its connections to a webhook; the cold columns are those first 3 s "
    "(connections opened, TLS handshakes, the client's own code compiled)." % (os.cpu_count(), datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")),
    "",
    "| rate (req/s) | seconds | answered | errors | p50 (ms) | p99 (ms) | p99.9 (ms) | cold p99 / worst (ms) | server RSS start / peak / end (MiB) | allocated per admission (KiB) | GCs gen0/1/2 | goal: p99 < 2 ms, p99.9 < 10 ms, no errors, memory flat |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | --- | --- |",
]
for line in open(results):
    rate, seconds, answered, errors, p50, p99, p999, start, peak, end, cold99, coldmax, allocated, gcs = line.strip().split("|")
    problems = []
    if float(p99) >= 2: problems.append("p99 %s ms" % p99)
    if float(p999) >= 10: problems.append("p99.9 %s ms" % p999)
    if int(errors): problems.append("%s errors" % errors)
    if int(end) - int(start) > 16: problems.append("RSS grew %d MiB" % (int(end) - int(start)))
    lines.append("| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s / %s | %.1f | %s | %s |" % (
        rate, seconds, answered, errors, p50, p99, p999, cold99, coldmax, start, peak, end, int(allocated) / 1024, gcs,
        "met" if not problems else "**missed** (%s)" % ", ".join(problems)))
lines += [
    "",
    "Memory flat means the server's RSS at the end is within 16 MiB of its start. What made the tail: the pauses measured before "
    "(p99 28 to 91 ms, p99.9 170 to 300 ms) were all in the load generator's first fraction of a second, a fresh process opening up to "
    "64 connections and compiling its code (the server's own admission histogram had 99.9% under 5 ms throughout); the earlier bench "
    "warmed the server in a separate process, so every measured run began cold.",
]
replace_section(target, "\n".join(lines) + "\n")
PY
echo "bench/webhook: wrote docs/benchmarks.md"
