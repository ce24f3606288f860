#!/usr/bin/env bash
# Publishes the three binaries as the container image holds them (the Dockerfile runs this script;
# test.sh runs it too, so a broken publish fails CI on machines without a Docker engine):
#   OUT/cli/torchferry                   the image's entry point (the webhook's init container)
#   OUT/operator/torchferry-operator
#   OUT/webhook/torchferry-webhook
# Framework-dependent: the image's base holds the ASP.NET Core runtime once for all three.
# ReadyToRun when ARCH is given (the image, the tests): compiled ahead of time, a process starts
# without JIT-compiling its own code (torchferry convert of a small file: 0.18 s became 0.12 s),
# which the init container and every CLI call pay.
# usage: scripts/publish.sh OUT [ARCH]   (ARCH: x64, arm64, or Docker's amd64/arm64)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/publish.sh OUT [ARCH]}
arch=${2:-}
rm -rf "$out"
for entry in Cli:cli Operator:operator Webhook:webhook; do
  project=${entry%%:*} folder=${entry##*:}
  dotnet publish "src/$project/$project.csproj" -c Release --no-self-contained ${arch:+-a "$arch" -p:PublishReadyToRun=true} \
    -o "$out/$folder" -p:DebugType=embedded -p:SatelliteResourceLanguages=en --nologo -v quiet
  # API documentation files are for IDEs, not for the image.
  find "$out/$folder" -maxdepth 1 -name '*.xml' -delete
done
echo "publish: $(du -sh "$out" | cut -f1) in $out"
