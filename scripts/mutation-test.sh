#!/usr/bin/env bash
# Mutation testing with Stryker.NET (dotnet-stryker, pinned in dotnet-tools.json) for one area, in
# bounded time. Not part of test.sh or CI: it builds and tests the area once per group of mutants
# (about 11 minutes for webhook-mutation on 2 cores). Scores and triaged survivors: docs/testing.md.
#
#   scripts/mutation-test.sh format|storage|webhook-mutation [MINUTES (default 90)]
#
# Writes artifacts/mutation/<area>/ (mutation-report.json and .html) and prints the score. A mutant
# counts as timed out only 30 s past its tests' normal time (scripts/stryker-config.json), so a busy
# machine does not pass slow runs off as detected mutants; ConfigureAwait(false) → (true) is not
# generated (equivalent: nothing here runs under a synchronization context).
set -euo pipefail
cd "$(dirname "$0")/.."
area=${1:-}
minutes=${2:-90}
case $area in
  format) tests=tests/Format.Tests; project=Format.csproj; mutate='**/*.cs' ;;
  storage) tests=tests/Storage.Tests; project=Storage.csproj; mutate='**/*.cs' ;;
  webhook-mutation) tests=tests/Webhook.Tests; project=Webhook.csproj; mutate='**/Mutation/**/*.cs' ;;
  *) echo "usage: scripts/mutation-test.sh format|storage|webhook-mutation [MINUTES]" >&2; exit 2 ;;
esac
[[ $minutes =~ ^[0-9]+$ ]] || { echo "mutation-test.sh: MINUTES must be a whole number" >&2; exit 2; }

scripts/install-test-deps.sh >/dev/null # PyTorch and s3rver: the tests under mutation need them
dotnet tool restore >/dev/null
root=$PWD
out=$root/artifacts/mutation/$area
rm -rf "$out"
(
  cd "$tests"
  timeout --signal=INT "${minutes}m" dotnet tool run dotnet-stryker \
    --config-file "$root/scripts/stryker-config.json" --project "$project" --mutate "$mutate" --configuration Release --concurrency "$(nproc)" \
    --reporter json --reporter html --reporter progress --output "$out" --skip-version-check
) || { rc=$?; [[ $rc == 124 ]] && echo "mutation-test.sh: stopped after ${minutes} minutes; no score" >&2; exit "$rc"; }

python3 - "$out/reports/mutation-report.json" <<'PY'
import collections, json, sys
report = json.load(open(sys.argv[1]))
counts = collections.Counter(m["status"] for f in report["files"].values() for m in f["mutants"])
detected = counts["Killed"] + counts["Timeout"]
valid = detected + counts["Survived"] + counts["NoCoverage"]
print("mutants: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
print(f"score: {100 * detected / valid:.2f}% ({detected} of {valid} detected; compile errors and ignored not counted)")
PY
