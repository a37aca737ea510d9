#!/usr/bin/env bash
# Builds qat-mlir (through setup.sh) and runs every test suite: the GoogleTest
# unit tests and the lit suite, both under ctest, which ends with its
# "N% tests passed" summary line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"

"$ROOT/scripts/setup.sh"
cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)"
