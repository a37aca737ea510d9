#!/usr/bin/env bash
# Installs qat-mlir from BUILD_DIR into a temporary prefix and uses it from
# outside the repository, as a user would, with no PYTHONPATH and none of the
# QAT_* variables: the versions agree; `qat` (python3 -m qat) takes a small
# ONNX model through import, training, QAT, conversion, compilation and
# evaluation; a C application finds the runtime with CMake's find_package and
# with pkg-config, loads a compiled model and checks its output.
#
#   scripts/test_install.sh [BUILD_DIR]      (ctest runs it as `install`)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="$(cd "${1:-$ROOT/build}" && pwd)"
WORK="$(mktemp -d /tmp/qat-install-test.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
PREFIX="$WORK/prefix"
log() { printf '[install-test] %s\n' "$*"; }

log "cmake --install into $PREFIX"
cmake --install "$BUILD_DIR" --prefix "$PREFIX" >/dev/null
cp -r "$ROOT/docs/examples/runtime_app" "$WORK/app-src"
cd "$WORK"
unset PYTHONPATH QAT_OPT QAT_COMPILE QAT_RUNTIME_LIB
export PATH="/usr/bin:/bin"

log "versions"
opt=$("$PREFIX/bin/qat-opt" --version)
compile=$("$PREFIX/bin/qat-compile" --version)
python=$("$PREFIX/bin/qat" --version)
echo "  qat-opt: $opt"
echo "  qat-compile: $compile"
echo "  qat: $python"
[[ "$opt" == "$compile" && "$opt" == "$python" && "$opt" == "qat-mlir "* ]] ||
  { echo "versions differ"; exit 1; }

log "python3 -m qat from the prefix: import, train, instrument, calibrate, QAT, freeze, convert, compile, eval"
/usr/bin/python3 - "$PREFIX" <<'PY'
import sys
sys.path.insert(0, sys.argv[1] + "/lib/python3/dist-packages")
import numpy as np
import onnx
from qat import models
onnx.save(models.mlp(hidden=(32,), classes=4), "mlp.onnx")
rng = np.random.default_rng(0)
x = rng.random((1024, 1, 28, 28), dtype=np.float32) * 0.3
y = rng.integers(0, 4, 1024).astype(np.int32)
for i, label in enumerate(y):  # the class is the brightest quadrant
    r, c = divmod(int(label), 2)
    x[i, 0, r * 14:(r + 1) * 14, c * 14:(c + 1) * 14] += 0.7
np.savez("data.npz", x=x, y=y)
PY
qat="$PREFIX/bin/qat"
"$qat" import mlp.onnx --batch 32 >/dev/null
"$qat" train mlp.mlir --values mlp.npz --data data.npz --epochs 2 --lr 0.1 -q >/dev/null
"$qat" instrument mlp.mlir >/dev/null
"$qat" calibrate mlp.qat.mlir --values mlp.trained.npz --data data.npz -q >/dev/null
"$qat" train mlp.qat.mlir --values mlp.qat.calibrated.npz --data data.npz --epochs 1 --lr 0.01 -q >/dev/null
"$qat" freeze mlp.qat.mlir --values mlp.qat.trained.npz >/dev/null
"$qat" convert mlp.frozen.mlir >/dev/null
"$qat" compile mlp.int.mlir >/dev/null
result=$("$qat" eval libmlp.int.so --data data.npz)
echo "  $result"
accuracy=$(sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p' <<<"$result")
/usr/bin/python3 -c "import sys; sys.exit(0 if float('$accuracy') > 90 else 1)" ||
  { echo "accuracy $accuracy% of the deployed int8 model, expected > 90%"; exit 1; }

log "C application with find_package(QatRuntime CONFIG)"
"$PREFIX/bin/qat-compile" app-src/affine.mlir -o libaffine.so
cmake -S app-src -B app-cmake -G Ninja -DCMAKE_C_COMPILER=cc \
  -DCMAKE_PREFIX_PATH="$PREFIX" >/dev/null
cmake --build app-cmake >/dev/null
app-cmake/runtime_app ./libaffine.so

log "C application with pkg-config"
flags=$(PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" pkg-config --cflags --libs qat_runtime)
cc app-src/main.c $flags -Wl,-rpath,"$PREFIX/lib" -o runtime_app_pc
./runtime_app_pc ./libaffine.so

log "all checks passed"
