#!/usr/bin/env bash
# Sets up what the tests need on a fresh machine, then builds and runs every test.
set -uo pipefail
cd "$(dirname "$0")"
scripts/install-test-deps.sh || exit 1

# The published binaries, laid out as the Dockerfile builds them (the same script, given the
# architecture as Docker's TARGETARCH names it); the chart tests check that the commands the chart
# runs exist there and start.
scripts/publish.sh artifacts/image/app "$(dpkg --print-architecture)" || exit 1

results=artifacts/test-results
rm -rf "$results"
dotnet test Operator.sln -c Release --logger "trx" --logger "console;verbosity=minimal" --results-directory "$results"
rc=$?

passed=0 failed=0 skipped=0
for trx in "$results"/*.trx; do
  [[ -f $trx ]] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx")
  passed=$((passed + $(sed -E 's/.* passed="([0-9]+)".*/\1/' <<<"$counters")))
  failed=$((failed + $(sed -E 's/.* failed="([0-9]+)".*/\1/' <<<"$counters")))
  skipped=$((skipped + $(sed -E 's/.* notExecuted="([0-9]+)".*/\1/' <<<"$counters")))
done
echo "tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
if ((rc == 0 && passed == 0)); then
  echo "test.sh: no test ran" >&2
  exit 1
fi
exit "$rc"
