"""What the benchmarks share: compiling a program with qat-compile and
opening it with the runtime."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
from qat.runtime import Model  # noqa: E402

QAT_COMPILE = os.environ.get("QAT_COMPILE",
                             os.path.join(ROOT, "build", "bin", "qat-compile"))


def use_threads(threads):
    """The same thread count on both sides: our compiled code uses OpenMP,
    whose libomp reads OMP_NUM_THREADS when the first model is loaded; PyTorch
    its own setting. Its int8 engine is oneDNN."""
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    torch.backends.quantized.engine = "onednn"


def compile_model(text, workdir, name):
    """Compiles MLIR `text` to workdir/lib<name>.so and opens it, with malloc
    keeping freed memory (what the training loop runs with)."""
    source = os.path.join(workdir, name + ".mlir")
    library = os.path.join(workdir, "lib" + name + ".so")
    with open(source, "w") as f:
        f.write(text)
    subprocess.run([QAT_COMPILE, source, "-o", library], check=True)
    return Model(library, keep_freed_memory=True)
