#!/usr/bin/env bash
# Builds qat-mlir (through setup.sh) and runs every test suite: the GoogleTest
# unit tests, the runtime's C tests, the lit suite and pytest under ctest
# (which ends with its "N% tests passed" summary line); then the same code
# under AddressSanitizer + UndefinedBehaviorSanitizer
# (scripts/test_sanitizers.sh, build-asan/) and a bounded libFuzzer run
# (scripts/fuzz.sh, FUZZ_SECONDS, default 60). QAT_SANITIZERS=0 skips those
# two.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"

"$ROOT/scripts/setup.sh"
cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)"
if [ "${QAT_SANITIZERS:-1}" != 0 ]; then
  "$ROOT/scripts/test_sanitizers.sh"
  "$ROOT/scripts/fuzz.sh" "${FUZZ_SECONDS:-60}"
fi
