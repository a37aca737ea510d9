#!/usr/bin/env bash
# The quickstart: set up and build, then compile
# docs/examples/quickstart.mlir (a linear layer with simulated int8
# quantization) through qat-cpu-pipeline, run it, and check the compiled
# result against the reference library (the same program constant-folded by
# the qat folders).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
LLVM_PREFIX=/usr/lib/llvm-22
EXAMPLE="$ROOT/docs/examples/quickstart.mlir"

"$ROOT/scripts/setup.sh"

QAT_OPT="$BUILD_DIR/bin/qat-opt"
run() {
  "$LLVM_PREFIX/bin/mlir-runner" -e main -entry-point-result=void \
    -shared-libs="$LLVM_PREFIX/lib/libmlir_runner_utils.so" \
    -shared-libs="$LLVM_PREFIX/lib/libmlir_c_runner_utils.so" | grep -v 'base@'
}

echo "== qat-compile: verify the program"
"$BUILD_DIR/bin/qat-compile" "$EXAMPLE"

echo "== compile with qat-cpu-pipeline and run"
compiled=$("$QAT_OPT" "$EXAMPLE" --qat-cpu-pipeline | run)
labels=("float output  relu(x W + b)" \
        "QAT output    (int8 weights per channel, uint8 input)" \
        "input after fake quantization" \
        "input as uint8 codes")
i=0
while IFS= read -r line; do
  case "$line" in
    \[*) [ "${line:0:2}" = "[[" ] && { echo "-- ${labels[$i]}"; i=$((i + 1)); }
         echo "$line" ;;
    *) echo "$line" ;;
  esac
done <<<"$compiled"

echo "== the same program evaluated by the reference library (qat folders)"
reference=$("$QAT_OPT" "$EXAMPLE" --canonicalize --qat-cpu-pipeline | run)
if [ "$compiled" = "$reference" ]; then
  echo "compiled code and reference library agree on every printed value"
else
  echo "MISMATCH between compiled code and reference library" >&2
  diff <(echo "$compiled") <(echo "$reference") >&2 || true
  exit 1
fi
