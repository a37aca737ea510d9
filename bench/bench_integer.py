#!/usr/bin/python3
"""Inference of the deployed integer networks next to PyTorch.

    /usr/bin/python3 bench/bench_integer.py [--threads 2] [--batches 1,64]

Networks on Fashion-MNIST shapes (the ones bench_train.py trains): an MLP
784-256-128-10 and a CNN conv3x3(16)-pool-conv3x3(32)-pool-linear. Random
weights; quantization parameters from a calibration batch. Ours: the float
network frozen (weights as constants) and the integer one from
qat-instrument + qat-freeze + qat-convert-to-integer, both compiled by
qat-compile and called through the runtime; W4A8 is the same with 4-bit
weights, stored two per byte and unpacked at run time. PyTorch: the same network in
fp32 and as FX static int8 (prepare_fx / convert_fx, x86 qconfig, 'onednn'
engine), same thread count. Times are medians per call; sizes are the
compiled libraries (ours) and the state_dict (PyTorch). Prints a table; no
pass/fail.
"""

import argparse
import io
import os
import statistics
import tempfile
import time

import numpy as np
import torch

from bench_train import cnn_mlir, mlp_mlir, torch_net
from common import compile_model, fx_int8, integer_model, use_threads
from qat.pipeline import run, save_values


def per_call(fn, seconds=1.0):
    for _ in range(3):
        fn()
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 5:
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def freeze(text, values, workdir, name):
    """The forward with `values` (parameters, and scales when instrumented)
    as constants."""
    path = save_values(os.path.join(workdir, name + ".npz"), values)
    return run(text, "qat-freeze", values=path, function="net")


def ours(kind, batch, workdir):
    text = mlp_mlir(batch) if kind == "MLP" else cnn_mlir(batch)
    rng = np.random.default_rng(0)
    float_model = compile_model(text, workdir, f"{kind}{batch}_float_args")
    params = {a.name: (rng.standard_normal(a.shape) * 0.05).astype(np.float32)
              for a in float_model.net.args if a.name != "image"}
    image = rng.random(float_model.net.args[0].shape, dtype=np.float32)

    def integer(weight_bits, tag):
        return integer_model(text, params, image, workdir,
                             f"{kind}{batch}_{tag}", weight_bits)

    int_model = integer(8, "int8")
    int4_model = integer(4, "int4")  # W4A8, weights packed two per byte
    fp32_model = compile_model(freeze(text, params, workdir, f"{kind}{batch}f"),
                               workdir, f"{kind}{batch}_fp32")
    t_int = per_call(lambda: int_model.net(image))
    t_int4 = per_call(lambda: int4_model.net(image))
    t_float = per_call(lambda: fp32_model.net(image))
    sizes = [os.path.getsize(os.path.join(workdir, f"lib{kind}{batch}_{k}.so"))
             for k in ("fp32", "int8", "int4")]
    return t_float, t_int, t_int4, sizes


def pytorch(kind, batch):
    torch.manual_seed(0)
    net = torch_net(kind).eval()
    image = torch.rand((batch, 1, 28, 28))
    with torch.no_grad():
        t_float = per_call(lambda: net(image))
        quantized = fx_int8(net, image)
        t_int = per_call(lambda: quantized(image))
    sizes = []
    for model in (net, quantized):
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        sizes.append(buffer.tell())
    return t_float, t_int, sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", default="1,64")
    options = parser.parse_args()
    use_threads(options.threads)
    print(f"ms per call, {options.threads} threads (PyTorch "
          f"{torch.__version__}, quantized engine "
          f"{torch.backends.quantized.engine})\n")
    print("| network | batch | ours fp32 | ours int8 | ours W4A8 (packed) | "
          "PyTorch fp32 | PyTorch int8 | PyTorch int8 / ours int8 |")
    print("|---|---|---|---|---|---|---|---|")
    sizes = {}
    with tempfile.TemporaryDirectory() as workdir:
        for kind in ("MLP", "CNN"):
            for batch in map(int, options.batches.split(",")):
                f32, i8, i4, size = ours(kind, batch, workdir)
                tf32, ti8, tsizes = pytorch(kind, batch)
                sizes[kind] = (size, tsizes)
                print(f"| {kind} | {batch} | {f32 * 1e3:.3f} | {i8 * 1e3:.3f} "
                      f"| {i4 * 1e3:.3f} | {tf32 * 1e3:.3f} | "
                      f"{ti8 * 1e3:.3f} | {ti8 / i8:.2f}x |", flush=True)
    print("\n| network | ours fp32 library | ours int8 library | "
          "ours W4A8 library | PyTorch fp32 state_dict | "
          "PyTorch int8 state_dict |")
    print("|---|---|---|---|---|---|")
    for kind, ((of, oi, o4), (tf, ti)) in sizes.items():
        print(f"| {kind} | {of / 1024:.0f} KiB | {oi / 1024:.0f} KiB | "
              f"{o4 / 1024:.0f} KiB | {tf / 1024:.0f} KiB | "
              f"{ti / 1024:.0f} KiB |")


if __name__ == "__main__":
    main()
