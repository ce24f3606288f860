#!/usr/bin/env bash
# Publishes the three binaries as the container image holds them (the Dockerfile runs this script;
# test.sh runs it too, so a broken publish fails CI on machines without a Docker engine):
#   OUT/cli/torchferry                   the image's entry point (the webhook's init container)
#   OUT/operator/torchferry-operator
#   OUT/webhook/torchferry-webhook
# torchferry is compiled natively (Native AOT, Cli.csproj): it needs no runtime and starts in a few
# milliseconds, which the init container and every convert pay (the runtime took 0.12 s of a small
# convert; at 1 GiB on ext4 that start was 40% of cp's time). Native compilation needs clang and
# zlib1g-dev (scripts/install-test-deps.sh, the Dockerfile) and builds for this machine's or,
# with a cross toolchain, another architecture.
# The operator and the webhook are framework-dependent (the image's base holds the ASP.NET Core
# runtime) and ReadyToRun when ARCH is given: compiled ahead of time, they start without
# JIT-compiling their own code.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/publish.sh OUT [ARCH]}
arch=${2:-}
rm -rf "$out"
# The native CLI, for ARCH or this machine. Only the executable goes into the image: its symbols
# (torchferry.dbg, twice its size) and the libraries' documentation and pdb files stay out.
if [[ -n $arch ]]; then target=(-a "$arch"); else target=(--use-current-runtime); fi
dotnet publish src/Cli/Cli.csproj -c Release "${target[@]}" -o "$out/cli" --nologo -v quiet
find "$out/cli" -mindepth 1 -not -name torchferry -delete
for entry in Operator:operator Webhook:webhook; do
  project=${entry%%:*} folder=${entry##*:}
  dotnet publish "src/$project/$project.csproj" -c Release --no-self-contained ${arch:+-a "$arch" -p:PublishReadyToRun=true} \
    -o "$out/$folder" -p:DebugType=embedded -p:SatelliteResourceLanguages=en --nologo -v quiet
  # API documentation files are for IDEs, not for the image.
  find "$out/$folder" -maxdepth 1 -name '*.xml' -delete
done
echo "publish: $(du -sh "$out" | cut -f1) in $out"
