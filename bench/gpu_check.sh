#!/usr/bin/env bash
# The GPU check: one short run on a machine with an NVIDIA GPU, CUDA and
# PyTorch, but no LLVM (docs/GPU.md). It builds nothing: it takes the
# libraries and the runtime that bench/gpu_prepare.py built on the CPU machine.
#
#   /usr/bin/python3 bench/gpu_prepare.py        # on the CPU machine, once
#   bench/gpu_check.sh [ARTIFACTS]               # on the GPU machine
#
# Prints PASS/FAIL for the checks (GPU bits against the CPU's and against
# torch._int_mm), then a table against PyTorch; exits non-zero on a failure.
# Bounded to 5 minutes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ARTIFACTS="${1:-$ROOT/bench/gpu-artifacts}"
if [ ! -f "$ARTIFACTS/manifest.json" ]; then
  echo "error: $ARTIFACTS has no manifest.json: run bench/gpu_prepare.py on the CPU machine first" >&2
  exit 1
fi
export QAT_RUNTIME_LIB="$ARTIFACTS/libqat_runtime.so"
export PYTHONPATH="$ROOT/python${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
exec timeout 290 python3 "$ROOT/bench/gpu_check.py" --artifacts "$ARTIFACTS"
