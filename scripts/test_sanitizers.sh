#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer: builds build-asan/ with
# QAT_SANITIZE=ON and runs, instrumented, the unit tests, the runtime's C
# tests (leak checking on), the whole lit suite (the tools instrumented) and
# the Python tests of the runtime (the instrumented runtime loaded into
# Python). Any report fails the run. scripts/test.sh runs it after the main
# suite.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${SANITIZE_BUILD_DIR:-$ROOT/build-asan}"
BUILD_DIR="$BUILD_DIR" QAT_CMAKE_ARGS="-DQAT_SANITIZE=ON" "$ROOT/scripts/setup.sh"

# LLVM/MLIR are not instrumented: std containers they resize trip ASan's
# container annotations, their allocators' slabs poisoned by our instrumented
# copies of LLVM's header code trip user poisoning (a false report the fuzzer
# met in MLIR's parser), and the tools' process-lifetime registries are not
# leaks. Every UBSan report is an error.
export ASAN_OPTIONS="detect_container_overflow=0:detect_leaks=0:allow_user_poisoning=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
cd "$BUILD_DIR"
ASAN_OPTIONS="detect_container_overflow=0:detect_leaks=1:allow_user_poisoning=0" \
  ctest --output-on-failure -R '^runtime_c_api'
ctest --output-on-failure -j "$(nproc)" -E '^(pytest|runtime_c_api|install)'
# Python is not instrumented: the ASan runtime is preloaded for it.
ASAN_RUNTIME="$(clang-22 -print-file-name=libclang_rt.asan-x86_64.so)"
LD_PRELOAD="$ASAN_RUNTIME" PYTHONPATH="$ROOT/python" \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider "$ROOT/python/tests/test_runtime.py"
echo "sanitizers: clean"
