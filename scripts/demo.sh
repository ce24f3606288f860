#!/usr/bin/env bash
# TorchFerry at work on this machine, no cluster needed: a two-task Flyte workflow on s3rver, `train`
# on a GPU DeviceProfile (its checkpoint and tensor saved on cuda:0) and `predict` on the CPU with
# opted-in inputs, through the real torchferry-webhook and torchferry-operator binaries, the chart's
# webhook configuration and the CRDs from config/crd (docs/sandbox.md explains the pieces).
# Prints the timeline as it happens; exits 0 only if predict loaded the converted variant on the CPU
# with a plain torch.load.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh >/dev/null
scripts/publish.sh artifacts/image/app "$(dpkg --print-architecture)" >/dev/null
exec dotnet run --project tests/Sandbox -c Release
