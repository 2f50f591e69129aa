#!/usr/bin/env bash
# Installs every Debian 12 package that latentsearch's build, tests, demo and
# benchmarks need. Idempotent: when everything is present it only queries dpkg
# and exits (well under a second). Works as root or through sudo.
#
# Usage: deploy/install-deps.sh [--check] [--build-only]
#   --check        only report what is missing; exit 1 if anything is.
#   --build-only   only what a Release build of the binaries needs (no tests,
#                  benchmarks, fuzzers, Python or data sets): the build stage
#                  of deploy/docker/Dockerfile.
set -euo pipefail

CHECK=0
BUILD_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --check) CHECK=1 ;;
    --build-only) BUILD_ONLY=1 ;;
    *) echo "install-deps: unknown argument '$arg' (use --check, --build-only)" >&2; exit 2 ;;
  esac
done

BUILD_PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates
  # gRPC + protobuf (C++)
  libgrpc++-dev libgrpc-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  # core libraries
  libabsl-dev libhnswlib-dev libtorch-dev
  # Gloo headers for c10d's ProcessGroupGloo (data-parallel training;
  # libtorch_cpu links libgloo, the headers are separate)
  libgloo-dev
  # Without the pthread OpenBLAS, Debian's LibTorch runs its BLAS on the
  # reference implementation: ConvTranspose2d is ~7x slower.
  libopenblas0-pthread
  # images, compression, HTTP (metrics), TLS tooling
  libpng-dev libjpeg-dev libstb-dev zlib1g-dev libcpp-httplib-dev libssl-dev openssl
  # the /metrics registry (only libprometheus-cpp-core is linked)
  prometheus-cpp-dev
  # latentsearch fetch-cifar10 (tarballs)
  libarchive-dev
  # logging (common/base/logging.h; LibTorch links the same glog)
  libgoogle-glog-dev libgflags-dev
  # PCA (common/stats)
  libeigen3-dev
)
PACKAGES=(
  "${BUILD_PACKAGES[@]}"
  # Python clients and the contract test
  python3 python3-grpcio python3-protobuf
  # the /metrics test parses our text format with the reference parser
  python3-prometheus-client
  # deploy/k8s + compose structure test (tests/deploy)
  python3-yaml
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev libfaiss-dev
  # sanitizers / fuzzers (clang + compiler-rt)
  clang lld libclang-rt-14-dev
  # real data for reader tests and the demo
  dataset-fashion-mnist
  # latentsearch report draws its charts with gnuplot (pngcairo terminal),
  # run as a child process
  gnuplot-nox
  # the search cluster keeps placement in etcd; tests start one
  # (common/testing/etcd_process.h)
  etcd-server
  # the gateway console's browser test (tests/e2e/gateway): headless
  # Chromium driven through chromedriver by Selenium
  chromium chromium-driver python3-selenium
)
[[ $BUILD_ONLY -eq 1 ]] && PACKAGES=("${BUILD_PACKAGES[@]}")
# The gateway's console is built from npm packages pinned by
# services/gateway/console/package-lock.json (`npm ci` at build time).
# Debian's nodejs + npm only when no npm is on the PATH (NodeSource's
# nodejs bundles its own npm and conflicts with Debian's npm package).
if ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$status" == ii* ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ $CHECK -eq 1 ]]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}" >&2
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: not root and no sudo; install these as root: ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only if they are absent or older than a day.
if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n1)" ]]; then
  "${SUDO[@]}" apt-get update -q
fi
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
