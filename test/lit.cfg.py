# -*- Python -*-
# The qat-mlir lit suite. Mirrors lib/: Dialect/Qat, Conversion/..., plus
# Integration (compiled and run) and tools.

import os
import subprocess

import lit.formats
from lit.llvm import llvm_config

config.name = "QAT"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.qat_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs"]

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

tool_dirs = [config.qat_tools_dir, config.llvm_tools_dir]
tools = ["qat-opt", "qat-compile", "qat-import", "mlir-opt", "mlir-runner", "not", "split-file", "llvm-nm", "llvm-objdump", "llvm-readelf"]
llvm_config.add_tool_substitutions(tools, tool_dirs)

config.substitutions.append(("%mlir_lib_dir", config.mlir_lib_dir))
config.substitutions.append(("%qat_src_root", config.qat_src_root))
config.substitutions.append(("%qat_obj_root", config.qat_obj_root))

# Runs the @main of a program already lowered to LLVM (qat-cpu-pipeline).
config.substitutions.append(
    (
        "%qat-runner",
        os.path.join(config.llvm_tools_dir, "mlir-runner")
        + " -e main -entry-point-result=void "
        f"-shared-libs={config.mlir_lib_dir}/libmlir_runner_utils.so "
        f"-shared-libs={config.mlir_lib_dir}/libmlir_c_runner_utils.so "
        # Large ops run on OpenMP threads (qat-cpu-pipeline's `parallel`).
        f"-shared-libs={config.mlir_lib_dir}/libomp.so",
    )
)

config.substitutions.append(("%python", config.python_executable))

# PyTorch (Debian's python3-torch) regenerates the golden vectors.
if (
    subprocess.call(
        [config.python_executable, "-c", "import torch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    == 0
):
    config.available_features.add("torch")

# Python's onnx (Debian's python3-onnx) builds the models qat-import's tests
# read (test/Frontend/ONNX/Inputs/onnx_models.py).
if (
    subprocess.call(
        [config.python_executable, "-c", "import onnx"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    == 0
):
    config.available_features.add("onnx")
config.substitutions.append(
    (
        "%onnx_model",
        config.python_executable
        + " "
        + os.path.join(config.test_source_root, "Frontend", "ONNX", "Inputs",
                       "onnx_models.py"),
    )
)

# CUDA's ptxas (at /usr/local/cuda/bin, or on PATH) checks the PTX the GPU
# pipeline emits. Its absence skips those tests, and says so.
_ptxas = next((p for p in [os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "ptxas")]
               + [os.path.join(d, "ptxas") for d in os.environ.get("PATH", "").split(os.pathsep)]
               if os.path.isfile(p) and os.access(p, os.X_OK)), None)
if _ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", _ptxas))
else:
    lit_config.note("ptxas not found (CUDA toolkit): the PTX checks are skipped")

# The libFuzzer target exists in sanitizer builds (QAT_SANITIZE=ON); its kept
# reproducers (test/Fuzz/corpus) replay there.
if os.path.exists(os.path.join(config.qat_tools_dir, "qat-opt-fuzz")):
    config.available_features.add("fuzzer")
    llvm_config.add_tool_substitutions(["qat-opt-fuzz", "qat-import-fuzz"],
                                      [config.qat_tools_dir])
