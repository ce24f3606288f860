#!/usr/bin/env bash
# Mutation testing with Stryker.NET (dotnet-stryker, pinned in dotnet-tools.json) for one area, in
# bounded time. Not part of test.sh or CI: it builds and tests the area once per group of mutants
# (about 11 minutes for webhook-mutation on 2 cores). Scores and triaged survivors: docs/testing.md.
#
#   scripts/mutation-test.sh format|storage|webhook-mutation [MINUTES (default 90)] [MUTATE...]
#
# The storage area is tested by Storage.Tests and Cli.Tests (conversions to and from s3rver,
# prepare-inputs); MUTATE narrows the mutated files to globs under the project (e.g. '**/S3/*.cs'),
# for a re-run of what changed within the time there is.
#
# Writes artifacts/mutation/<area>/ (reports/mutation-report.json and .html, and survivors.txt: each
# surviving or uncovered mutant with the code it changed, for triage) and prints the score. A mutant
# counts as timed out only 30 s past its tests' normal time (scripts/stryker-config.json), so a busy
# machine does not pass slow runs off as detected mutants; ConfigureAwait(false) → (true) is not
# generated (equivalent: nothing here runs under a synchronization context).
set -euo pipefail
cd "$(dirname "$0")/.."
area=${1:-}
minutes=${2:-90}
filter=''
case $area in
  # The fuzz tests (two of them 8 s each, reaching nearly every reader mutant) made one run of the
  # area last over 2.5 hours; they judge only "read or refused cleanly", so the run leaves them out.
  format) source=src/Format; tests=(Format.Tests); mutate='**/*.cs'; filter='FullyQualifiedName!~.Fuzz.' ;;
  storage) source=src/Storage; tests=(Storage.Tests Cli.Tests); mutate='**/*.cs' ;;
  webhook-mutation) source=src/Webhook; tests=(Webhook.Tests); mutate='**/Mutation/**/*.cs' ;;
  *) echo "usage: scripts/mutation-test.sh format|storage|webhook-mutation [MINUTES] [MUTATE...]" >&2; exit 2 ;;
esac
mutate_args=()
for glob in "${@:3}"; do mutate_args+=(--mutate "$glob"); done
((${#mutate_args[@]})) || mutate_args=(--mutate "$mutate")
[[ $minutes =~ ^[0-9]+$ ]] || { echo "mutation-test.sh: MINUTES must be a whole number" >&2; exit 2; }

scripts/install-test-deps.sh >/dev/null # PyTorch and s3rver: the tests under mutation need them
dotnet tool restore >/dev/null
root=$PWD
if [[ " ${tests[*]} " == *" Cli.Tests "* ]]; then
  # Cli.Tests also run the published native binary (which carries no mutant; those tests cover nothing here).
  scripts/publish.sh artifacts/image/app "$(dpkg --print-architecture)" >/dev/null
fi
test_projects=()
for project in "${tests[@]}"; do test_projects+=(--test-project "$root/tests/$project/$project.csproj"); done
out=$root/artifacts/mutation/$area
rm -rf "$out"
config=$(mktemp --suffix=.json)
trap 'rm -f "$config"' EXIT
python3 - "$root/scripts/stryker-config.json" "$filter" >"$config" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
if sys.argv[2]:
    config["stryker-config"]["test-case-filter"] = sys.argv[2]
print(json.dumps(config))
PY
(
  cd "$source"
  timeout --signal=INT "${minutes}m" dotnet tool run dotnet-stryker \
    --config-file "$config" "${test_projects[@]}" "${mutate_args[@]}" --configuration Release --concurrency "$(nproc)" \
    --reporter json --reporter html --reporter dots --output "$out" --skip-version-check
) || { rc=$?; [[ $rc == 124 ]] && echo "mutation-test.sh: stopped after ${minutes} minutes; no score" >&2; exit "$rc"; }

python3 - "$out/reports/mutation-report.json" "$out/survivors.txt" "$root/" <<'PY'
import collections, json, sys
report = json.load(open(sys.argv[1]))
counts = collections.Counter(m["status"] for f in report["files"].values() for m in f["mutants"])
detected = counts["Killed"] + counts["Timeout"]
valid = detected + counts["Survived"] + counts["NoCoverage"]
print("mutants: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
print(f"score: {100 * detected / valid:.2f}% ({detected} of {valid} detected; compile errors and ignored not counted)")
# What is left to triage: each survivor and uncovered mutant with the code it changed, by file and line.
with open(sys.argv[2], "w") as out:
    for path, file in sorted(report["files"].items()):
        lines = file["source"].split("\n")
        for m in sorted(file["mutants"], key=lambda m: (m["location"]["start"]["line"], m["location"]["start"]["column"])):
            if m["status"] not in ("Survived", "NoCoverage"):
                continue
            start, end = m["location"]["start"], m["location"]["end"]
            original = lines[start["line"] - 1][start["column"] - 1:] if start["line"] == end["line"] else lines[start["line"] - 1][start["column"] - 1:] + " ..."
            if start["line"] == end["line"]:
                original = original[: end["column"] - start["column"]]
            print(f'{path.removeprefix(sys.argv[3])}:{start["line"]} {m["status"]} {m["mutatorName"]}: {original.strip()[:120]!r} -> {m.get("replacement", "").strip()[:120]!r}', file=out)
print(f"survivors and uncovered mutants: {sys.argv[2]}")
PY
