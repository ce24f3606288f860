#!/usr/bin/env bash
# Installs the real peers the tests talk to, when they are missing:
#   - PyTorch from Debian (python3-torch), used through /usr/bin/python3.
# Safe to run again: it installs nothing that is already there.
set -euo pipefail

need_apt=()
if ! /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
  need_apt+=(python3-torch)
fi

if ((${#need_apt[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-test-deps: need root to apt-get install ${need_apt[*]}" >&2
    exit 1
  fi
  echo "install-test-deps: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

/usr/bin/python3 -c 'import torch; print("install-test-deps: PyTorch", torch.__version__)'
