# syntax=docker/dockerfile:1
# One image for the three binaries: `torchferry` (the entry point, which the webhook's init
# container runs as `prepare-inputs`), the operator and the webhook. They share the archive,
# storage and Flyte code, so one image keeps them on one version, is built and scanned once, and
# its layers are pulled once per node. The chart runs the operator and the webhook by `command`.
#
#   docker build -t ghcr.io/torchferry/torchferry:0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ... --push .

# Build on the builder's own platform and publish for the target's architecture (no emulation).
# The -aot SDK has clang and zlib, which the natively compiled CLI links with; for another
# architecture its cross toolchain is added.
FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:10.0-noble-aot AS build
ARG BUILDARCH
ARG TARGETARCH
WORKDIR /src
COPY scripts/install-cross-toolchain.sh scripts/
RUN scripts/install-cross-toolchain.sh "$BUILDARCH" "$TARGETARCH"
COPY .editorconfig Directory.Build.props Directory.Packages.props ./
COPY scripts/publish.sh scripts/
COPY src/ src/
# `torchferry crds` carries the committed CRDs.
COPY config/crd/ config/crd/
# The same script test.sh runs in CI, so what the image holds is what the tests built.
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    scripts/publish.sh /app "$TARGETARCH"

# Ubuntu 24.04 "chiseled": the ASP.NET Core runtime (for the operator and the webhook) and its
# libraries only; no shell, no package manager; glibc and OpenSSL for the native CLI. Its non-root
# user is UID 1654.
FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble-chiseled AS runtime
LABEL org.opencontainers.image.title="torchferry" \
      org.opencontainers.image.description="Moves PyTorch artifacts between the GPU and CPU tasks of a Flyte cluster"
COPY --from=build /app /app
# Numeric, so that Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 1654
# Workstation GC: the pods are small (a few hundred MiB) and mostly wait on the network.
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_gcServer=0
ENTRYPOINT ["/app/cli/torchferry"]
