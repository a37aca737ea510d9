"""What the benchmarks share: compiling a program with qat-compile and
opening it with the runtime."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "python", "tests"))
from model_zoo import fx_int8  # noqa: E402,F401 - the PyTorch int8 peer
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


def integer_model(text, params, x, workdir, name, weight_bits=8):
    """The float forward @net of `text` with `params`, instrumented at
    `weight_bits` (activations int8), ranges from the batch `x` (its input
    "image", @net_init_qparams), frozen (zero weights stay zero codes),
    converted to integers and compiled."""
    from qat.pipeline import run, save_values
    instrumented = run(text, "qat-instrument", weight_bits=weight_bits)
    model = compile_model(instrumented, workdir, name + "_q")
    init = model.net_init_qparams
    out = init(*[dict(params, image=x)[a.name] for a in init.args])
    values = dict(params, **{r.name: v for r, v in zip(init.results, out)})
    path = save_values(os.path.join(workdir, name + ".npz"), values)
    frozen = run(instrumented, "qat-freeze", values=path, function="net")
    return compile_model(run(frozen, "qat-convert-to-integer"), workdir, name)


def machine_peak(threads=1, seconds=0.5):
    """(vpdpbusd GOP/s, FMA GFLOP/s) of this machine on `threads` threads,
    measured now by bench/peak.c (register-only loops of independent
    AVX-512 VNNI dot products and FMAs, one process per thread, run
    together): the denominators of the benchmarks' "% of peak" columns.
    None when no C compiler is found."""
    import shutil
    import tempfile
    cc = shutil.which(os.environ.get("QAT_CC", "cc"))
    if cc is None:
        return None
    with tempfile.TemporaryDirectory() as workdir:
        program = os.path.join(workdir, "peak")
        subprocess.run([cc, "-O2", "-mavx512f", "-mavx512vnni", "-o", program,
                        os.path.join(ROOT, "bench", "peak.c")], check=True)
        runs = [subprocess.Popen([program, str(seconds)],
                                 stdout=subprocess.PIPE, text=True)
                for _ in range(threads)]
        rates = [tuple(float(v) for v in run.communicate()[0].split())
                 for run in runs]
    return tuple(sum(r[i] for r in rates) for i in range(2))


# The requantization of the synthetic int8 layers (bench_latency.mlp_mlir,
# bench_sparse's convolution): a rescale of about 0.0008 in the normalized
# form decomposeMultiplier writes (an odd multiplier in [2^30, 2^31), as a
# trained layer's would be; a power of two would let the compiler turn the
# multiplication into a shift), ties to even, a fused ReLU to [0, 127].
REQUANTIZE_MULTIPLIER, REQUANTIZE_SHIFT = 1759218605, 41


def requantize_attrs():
    """The attributes of that qat.requantize."""
    return (f"multiplier = array<i32: {REQUANTIZE_MULTIPLIER}>, "
            f"shift = array<i32: {REQUANTIZE_SHIFT}>, quant_min = 0 : i64")


def requantize(acc):
    """numpy's int8 codes for int32 accumulators `acc` under that
    requantization, exact in int64 (|acc * multiplier| < 2^63)."""
    import numpy as np
    product = acc.astype(np.int64) * REQUANTIZE_MULTIPLIER
    half = np.int64(1) << (REQUANTIZE_SHIFT - 1)
    q = product >> REQUANTIZE_SHIFT
    r = product & ((np.int64(1) << REQUANTIZE_SHIFT) - 1)
    q += (r > half) | ((r == half) & (q % 2 == 1))
    return np.clip(q, 0, 127).astype(np.int8)
