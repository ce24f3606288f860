#!/usr/bin/env bash
# The Dockerfile's build stage (Ubuntu 24.04, mcr.microsoft.com/dotnet/sdk:10.0-noble-aot, which has
# clang and zlib for its own architecture) compiles the CLI natively for the image's architecture.
# When that differs from the builder's (docker buildx --platform linux/arm64 on an amd64 machine,
# or the reverse), the linker needs the target's GCC toolchain and zlib: this installs them, as
# https://learn.microsoft.com/dotnet/core/deploying/native-aot/cross-compile describes.
#   scripts/install-cross-toolchain.sh BUILDARCH TARGETARCH   (Docker's names: amd64, arm64)
set -euo pipefail
build=${1:?usage: install-cross-toolchain.sh BUILDARCH TARGETARCH}
target=${2:?usage: install-cross-toolchain.sh BUILDARCH TARGETARCH}
[[ $build == "$target" ]] && exit 0
case $target in
  arm64) gcc=gcc-aarch64-linux-gnu archive=http://ports.ubuntu.com/ubuntu-ports/ ;;
  amd64) gcc=gcc-x86-64-linux-gnu archive=http://archive.ubuntu.com/ubuntu/ ;;
  *) echo "install-cross-toolchain.sh: no cross toolchain for $target (amd64 or arm64)" >&2; exit 2 ;;
esac
# The image's own sources serve only its architecture; the target's packages come from its archive.
sed -i "/^Signed-By/ a Architectures: $build" /etc/apt/sources.list.d/ubuntu.sources
cat >"/etc/apt/sources.list.d/$target.sources" <<SOURCES
Types: deb
URIs: $archive
Suites: noble noble-updates noble-security
Components: main restricted
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg
Architectures: $target
SOURCES
dpkg --add-architecture "$target"
apt-get update
apt-get install -y --no-install-recommends "$gcc" "zlib1g-dev:$target"
rm -rf /var/lib/apt/lists/*
