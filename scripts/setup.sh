#!/usr/bin/env bash
# Sets up a Debian 12 machine for qat-mlir and builds it. Idempotent: a second
# run installs nothing and rebuilds only what changed.
#
#   scripts/setup.sh            install packages, configure, build
#   BUILD_DIR=out scripts/setup.sh
#   BUILD_DIR=out QAT_CMAKE_ARGS="-DQAT_SANITIZE=ON" scripts/setup.sh
#
# Packages come from Debian's archive only (LLVM/MLIR 22 from bookworm's
# security/backports suites as configured on these machines).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
LLVM_PREFIX=/usr/lib/llvm-22

PACKAGES=(
  # Toolchain and LLVM/MLIR 22.
  cmake ninja-build ccache g++ clang-22 lld-22 libomp-22-dev pkgconf
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  # Unit tests; the sanitizer and fuzzer runtimes (scripts/test_sanitizers.sh).
  libgtest-dev libclang-rt-22-dev
  # Python side: golden vectors (torch), tests and front end.
  python3 python3-numpy python3-pytest python3-torch python3-onnx python3-tqdm
  python3-matplotlib python3-torchvision dataset-fashion-mnist
  # qat-import: ONNX's C++ protobuf classes, checker, shape inference and
  # version converter; its backend test data (the conformance suite).
  libonnx-dev libprotobuf-dev libonnx-testdata
  # Data-parallel training (docs/Distributed.md).
  openmpi-bin libopenmpi-dev python3-mpi4py
)

log() { printf '[setup] %s\n' "$*"; }

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  log "installing ${#missing[@]} Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
else
  log "all ${#PACKAGES[@]} Debian packages present"
fi

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  log "configuring $BUILD_DIR"
  cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR="$LLVM_PREFIX/lib/cmake/mlir" \
    -DLLVM_EXTERNAL_LIT="$LLVM_PREFIX/bin/lit" \
    -DPython3_EXECUTABLE=/usr/bin/python3 \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DLLVM_USE_LINKER=lld \
    -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    ${QAT_CMAKE_ARGS:-} >/dev/null
fi

# Paths under the checkout are hashed relative to it, so another clone (CI's)
# reuses this machine's ccache entries.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$ROOT}"
log "building (ninja, $(nproc) jobs)"
cmake --build "$BUILD_DIR"
log "done: tools in $BUILD_DIR/bin"
