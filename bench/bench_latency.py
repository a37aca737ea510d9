#!/usr/bin/python3
"""Batch-1 latency of an int8 MLP (784-256-128-10, ReLU), ours next to PyTorch.

    /usr/bin/python3 bench/bench_latency.py [--threads 1] [--calls 5000]

Ours: the MLP as integer linalg (int8 x int8 -> int32 matmuls with constant
weights, requantize with fused ReLU), compiled by qat-compile and called from
Python through qat.runtime. PyTorch: the same layer sizes as quantized Linear
+ ReLU modules on its 'onednn' engine, called on a quantized input. The
weights and scales are random (latency does not depend on them). Also prints
the cost of calling a trivial compiled entry from Python, which bounds how
much of our time is the Python/ctypes call rather than compiled code.
Medians of 5 runs of --calls calls. Prints a table; no pass/fail.
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch

from common import compile_model, requantize_attrs, use_threads
LAYERS = [(784, 256), (256, 128), (128, 10)]


def per_call(fn, calls):
    for _ in range(100):
        fn()
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def time_from_c(library, entry, calls, workdir):
    """Median ns per call from C (bench/runtime_call.c, built here with cc
    against the runtime): (qat_entry_invoke_static, qat_entry_invoke); None
    when no C compiler is found."""
    import shutil
    import subprocess
    from qat import locations
    cc = shutil.which(os.environ.get("QAT_CC", "cc"))
    if cc is None:
        return None
    runtime = locations.runtime_library()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    program = os.path.join(workdir, "runtime_call")
    if not os.path.exists(program):
        subprocess.run([cc, "-O2", "-o", program,
                        os.path.join(root, "bench", "runtime_call.c"),
                        "-I", os.path.join(root, "runtime", "include"),
                        runtime, f"-Wl,-rpath,{os.path.dirname(runtime)}"],
                       check=True)
    out = subprocess.run([program, library, entry, str(calls)],
                         capture_output=True, text=True, check=True).stdout
    return tuple(float(v) for v in out.split())


def mlp_mlir(weights, batch=1):
    """The int8 MLP of LAYERS with constant `weights` ([k][n] int8 each), as
    integer linalg, for `batch` rows."""
    lines = [f"func.func @mlp(%x: tensor<{batch}x784xi8>) -> "
             f"tensor<{batch}x10xi8> {{",
             "  %c0 = arith.constant 0 : i32"]
    previous = "%x"
    for i, ((k, n), w) in enumerate(zip(LAYERS, weights)):
        data = "0x" + w.tobytes().hex().upper()
        lines += [
            f'  %w{i} = arith.constant dense<"{data}"> : tensor<{k}x{n}xi8>',
            f"  %e{i} = tensor.empty() : tensor<{batch}x{n}xi32>",
            f"  %z{i} = linalg.fill ins(%c0 : i32) outs(%e{i} : "
            f"tensor<{batch}x{n}xi32>) -> tensor<{batch}x{n}xi32>",
            f"  %a{i} = linalg.matmul ins({previous}, %w{i} : "
            f"tensor<{batch}x{k}xi8>, tensor<{k}x{n}xi8>) outs(%z{i} : "
            f"tensor<{batch}x{n}xi32>) -> tensor<{batch}x{n}xi32>",
            f"  %q{i} = qat.requantize %a{i} {{{requantize_attrs()}}} :"
            f" tensor<{batch}x{n}xi32> -> tensor<{batch}x{n}xi8>",
        ]
        previous = f"%q{i}"
    lines += [f"  return {previous} : tensor<{batch}x10xi8>", "}"]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    use_threads(args.threads)
    rng = np.random.default_rng(0)
    weights = [rng.integers(-128, 128, (k, n), dtype=np.int8)
               for k, n in LAYERS]

    with tempfile.TemporaryDirectory() as workdir:
        model = compile_model(mlp_mlir(weights), workdir, "mlp")
        trivial = compile_model(
            "func.func @f(%x: tensor<1x784xi8>) -> tensor<1x784xi8> {\n"
            "  return %x : tensor<1x784xi8>\n}\n", workdir, "trivial")
        x = rng.integers(-128, 128, (1, 784), dtype=np.int8)
        ours = per_call(lambda: model.mlp(x), args.calls)
        call = per_call(lambda: trivial.f(x), args.calls)
        from_c = time_from_c(model.path, "mlp", args.calls, workdir)
        trivial_from_c = time_from_c(trivial.path, "f", args.calls, workdir)

    layers = []
    for (k, n), w in zip(LAYERS, weights):
        linear = torch.ao.nn.quantized.Linear(k, n)
        linear.set_weight_bias(
            torch.quantize_per_tensor(torch.from_numpy(w.T.astype(np.float32))
                                      * 0.01, 0.01, 0, torch.qint8), None)
        layers += [linear, torch.nn.ReLU()]
    torch_mlp = torch.nn.Sequential(*layers[:-1])
    xq = torch.quantize_per_tensor(torch.rand(1, 784), 1 / 255, 0,
                                   torch.quint8)
    with torch.no_grad():
        theirs = per_call(lambda: torch_mlp(xq), args.calls)

    print(f"threads: {args.threads} on both sides (PyTorch {torch.__version__}, "
          f"int8 engine onednn); medians of 5 x {args.calls} calls")
    print(f"{'what':<46} {'us/call':>9}")
    print("-" * 56)
    print(f"{'qat-mlir int8 MLP, batch 1 (Python call)':<46} {ours * 1e6:>9.1f}")
    print(f"{'  of which a trivial entry call costs':<46} {call * 1e6:>9.1f}")
    if from_c:
        print(f"{'qat-mlir int8 MLP, batch 1 (C, invoke_static)':<46} "
              f"{from_c[0] / 1e3:>9.2f}")
        print(f"{'qat-mlir int8 MLP, batch 1 (C, checked tensors)':<46} "
              f"{from_c[1] / 1e3:>9.2f}")
        print(f"{'  a trivial entry from C (static / tensors)':<46} "
              f"{trivial_from_c[0] / 1e3:>5.2f} / {trivial_from_c[1] / 1e3:.2f}")
    print(f"{'PyTorch quantized MLP, batch 1':<46} {theirs * 1e6:>9.1f}")
    print(f"{'speed-up (PyTorch / qat-mlir)':<46} {theirs / ours:>8.2f}x")


if __name__ == "__main__":
    main()
