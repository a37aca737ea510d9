#!/usr/bin/python3
"""Pruned int8 layers and models: compressed weights and the block-sparse
kernel next to the dense int8 kernel and PyTorch, in one run.

    /usr/bin/python3 bench/bench_sparse.py [--threads 1] [--repeat 7]

For each layer (the MLP's largest, 784 -> 256 at batch 256 and 1; the CNN's
largest, conv 3x3 16 -> 32 on 14x14 at batch 256, requantized to int8 with
a fused ReLU, as deployed) and each pruning pattern,
it prunes random int8 weights by magnitude, compiles the layer with
qat-compile (whose cost rule picks the format: docs/Pruning.md) and times it
through the runtime. Patterns: dense; 50% and 75% unstructured; 2:4 and 1:4
along the reduction axis; 75% of the 4x16 blocks (4 reduction elements x 16
output channels, the kernel's tile). Every result is checked against numpy.
Then the whole int8 MLP (784-256-128-10, the classifier dense) in each
pattern, and the whole int8 CNN (conv16-pool-conv32-pool-fc, the demo's:
random float weights, int8 ranges from one batch) dense and with its second
convolution at 75% 4x16 blocks, the one layer blocks can tile (the whole
networks' results are checked by the tests, not here). Columns: median time, speed-up over our dense kernel and over
PyTorch's dense quantized Linear / Conv2d (onednn; this PyTorch has no sparse
int8 CPU kernel: its sparse quantized Linear is built for neither onednn nor
qnnpack), dense-equivalent GOP/s and share of the vpdpbusd peak, and the
library size. Prints a table; no pass/fail.
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch
import torch.nn.intrinsic.quantized as intrinsic

from bench_kernels import int8_linear_mlir
from bench_latency import LAYERS, mlp_mlir
from bench_train import cnn_mlir, torch_net
from common import (compile_model, fx_int8, integer_model, machine_peak,
                    requantize, requantize_attrs, use_threads)

PATTERNS = ["dense", "50%", "75%", "2:4", "1:4", "75% 4x16"]


def prune(w, pattern):
    """w[k][n] (the reduction first) pruned by magnitude in `pattern`."""
    w = w.copy()
    size = np.abs(w.astype(np.float64))  # int8 codes or float weights
    if pattern == "dense":
        return w
    if pattern.endswith("4x16"):
        k, n = w.shape
        blocks = size.reshape(k // 4, 4, n // 16, 16).sum(axis=(1, 3))
        order = np.argsort(blocks, axis=None, kind="stable")
        pruned = order[:int(0.75 * blocks.size)]
        mask = np.ones(blocks.size, bool)
        mask[pruned] = False
        mask = np.repeat(np.repeat(mask.reshape(blocks.shape), 4, 0), 16, 1)
        return np.where(mask, w, 0).astype(w.dtype)
    if ":" in pattern:
        keep = int(pattern[0])
        groups = size.reshape(-1, 4, size.shape[1])
        rank = np.argsort(np.argsort(-groups, axis=1, kind="stable"), axis=1)
        mask = (rank < keep).reshape(w.shape)
        return np.where(mask, w, 0).astype(w.dtype)
    fraction = float(pattern.rstrip("%")) / 100
    order = np.argsort(size, axis=None, kind="stable")
    flat = w.reshape(-1)
    flat[order[:int(fraction * flat.size)]] = 0
    return w


def conv_mlir(n, h, w, c, f, filters):
    """A deployed int8 conv layer: 3x3 convolution (NHWC x HWCF, same
    padding) with constant filters, int32 accumulation, requantized with a
    fused ReLU to int8 (as mlp_mlir's layers)."""
    data = "0x" + filters.tobytes().hex().upper()
    x = f"tensor<{n}x{h}x{w}x{c}xi8>"
    padded = f"tensor<{n}x{h + 2}x{w + 2}x{c}xi8>"
    acc = f"tensor<{n}x{h}x{w}x{f}xi32>"
    out = f"tensor<{n}x{h}x{w}x{f}xi8>"
    return f"""
func.func @f(%x: {x}) -> {out} {{
  %k = arith.constant dense<"{data}"> : tensor<3x3x{c}x{f}xi8>
  %c0 = arith.constant 0 : i8
  %p = tensor.pad %x low[0, 1, 1, 0] high[0, 1, 1, 0] {{
  ^bb0(%i: index, %j: index, %l: index, %m: index):
    tensor.yield %c0 : i8
  }} : {x} to {padded}
  %zero = arith.constant 0 : i32
  %e = tensor.empty() : {acc}
  %z = linalg.fill ins(%zero : i32) outs(%e : {acc}) -> {acc}
  %y = linalg.conv_2d_nhwc_hwcf {{dilations = dense<1> : tensor<2xi64>,
                                  strides = dense<1> : tensor<2xi64>}}
      ins(%p, %k : {padded}, tensor<3x3x{c}x{f}xi8>) outs(%z : {acc}) -> {acc}
  %q = qat.requantize %y {{{requantize_attrs()}}}
      : {acc} -> {out}
  return %q : {out}
}}
"""


def conv_reference(x, filters):
    n, h, w, _ = x.shape
    padded = np.pad(x.astype(np.int32), ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((n, h, w, filters.shape[3]), np.int32)
    for i in range(3):
        for j in range(3):
            out += padded[:, i:i + h, j:j + w, :] @ filters[i, j].astype(
                np.int32)
    return out


def torch_linear(w):
    linear = torch.ao.nn.quantized.Linear(*w.shape)
    linear.set_weight_bias(torch.quantize_per_tensor(
        torch.from_numpy(w.T.astype(np.float32)) * 0.01, 0.01, 0,
        torch.qint8), None)
    return linear


def interleaved(fns, repeat):
    """Median seconds per call of each of `fns`, timed in turns (each round
    runs every fn for about 0.1 s), so that drifts of the machine's speed
    fall on all of them alike."""
    counts = []
    for fn in fns:
        fn()
        start, calls = time.perf_counter(), 0
        while time.perf_counter() - start < 0.03:
            fn()
            calls += 1
        counts.append(max(1, int(0.1 * calls / (time.perf_counter() - start))))
    samples = [[] for _ in fns]
    for _ in range(repeat):
        for fn, count, times in zip(fns, counts, samples):
            start = time.perf_counter()
            for _ in range(count):
                fn()
            times.append((time.perf_counter() - start) / count)
    return [statistics.median(times) for times in samples]


CNN_PARAMS = {"k0": (3, 3, 1, 16), "kb0": (16,), "k1": (3, 3, 16, 32),
              "kb1": (32,), "w": (1568, 10), "wb": (10,)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    # First, on an idle machine: the peak the last column divides by.
    peak = (machine_peak(args.threads) or (float("nan"),))[0]
    use_threads(args.threads)
    rng = np.random.default_rng(0)
    rows = []  # (what, pattern, ops, seconds, library bytes, dense s, peer s)
    with tempfile.TemporaryDirectory() as workdir:
        def measure(what, ops, peer, variants):
            """variants: (pattern, model, call); one row each, timed in
            turns with the peer."""
            times = interleaved([peer] + [call for _, _, call in variants],
                                args.repeat)
            for (pattern, model, _), t in zip(variants, times[1:]):
                rows.append((what, pattern, ops, t,
                             os.path.getsize(model.path), times[1], times[0]))

        # The MLP's largest layer, at batch 256 and 1.
        k, n = LAYERS[0]
        w = rng.integers(-128, 128, (k, n), dtype=np.int8)
        for m in (256, 1):
            a = rng.integers(-128, 128, (m, k), dtype=np.int8)
            peer_layer = torch_linear(w)
            xq = torch.quantize_per_tensor(
                torch.from_numpy(a.astype(np.float32) + 128.0), 1.0, 0,
                torch.quint8)
            variants = []
            for pattern in PATTERNS:
                pw = prune(w, pattern)
                model = compile_model(int8_linear_mlir(m, k, n, pw), workdir,
                                      f"fc{m}_{len(variants)}")
                np.testing.assert_array_equal(
                    model.f(a), a.astype(np.int32) @ pw.astype(np.int32))
                variants.append((pattern, model,
                                 lambda model=model: model.f(a)))
            measure(f"fc {m}x{k}x{n}", 2 * m * k * n,
                    lambda: peer_layer(xq), variants)

        # The CNN's largest layer: conv 3x3, 16 -> 32 channels, 14x14.
        b, h, c, f = 256, 14, 16, 32
        filters = rng.integers(-128, 128, (3, 3, c, f), dtype=np.int8)
        x = rng.integers(-128, 128, (b, h, h, c), dtype=np.int8)
        conv = intrinsic.ConvReLU2d(c, f, 3, padding=1)
        conv.set_weight_bias(torch.quantize_per_tensor(
            torch.from_numpy(filters.transpose(3, 2, 0, 1).astype(np.float32))
            * 0.01, 0.01, 0, torch.qint8), None)
        xq = torch.quantize_per_tensor(
            torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32)
                             + 128.0), 1.0, 0, torch.quint8)
        variants = []
        for pattern in PATTERNS:
            # The filter as a [9 * c][f] matrix: 4 consecutive rows are 4
            # input channels of one tap, the kernel's reduction groups.
            pf = prune(filters.reshape(9 * c, f), pattern).reshape(filters.shape)
            model = compile_model(conv_mlir(b, h, h, c, f, pf), workdir,
                                  f"conv_{len(variants)}")
            np.testing.assert_array_equal(model.f(x),
                                          requantize(conv_reference(x, pf)))
            variants.append((pattern, model, lambda model=model: model.f(x)))
        measure(f"conv {b}x{h}x{h}x{c}->{f}", 2 * b * h * h * 9 * c * f,
                lambda: conv(xq), variants)

        # The whole int8 MLP; the 10-way classifier stays dense.
        weights = [rng.integers(-128, 128, shape, dtype=np.int8)
                   for shape in LAYERS]
        for m in (256, 1):
            peer_model = torch.nn.Sequential(
                *[layer for wi in weights
                  for layer in (torch_linear(wi), torch.nn.ReLU())][:-1])
            xq = torch.quantize_per_tensor(torch.rand(m, 784), 1 / 255, 0,
                                           torch.quint8)
            xm = rng.integers(-128, 128, (m, 784), dtype=np.int8)
            variants = []
            for pattern in PATTERNS:
                pws = [prune(wi, pattern) for wi in weights[:-1]] + \
                    weights[-1:]
                model = compile_model(mlp_mlir(pws, batch=m), workdir,
                                      f"mlp{m}_{len(variants)}")
                expected = xm
                for wi in pws:
                    expected = requantize(expected.astype(np.int32)
                                          @ wi.astype(np.int32))
                np.testing.assert_array_equal(model.mlp(xm), expected)
                variants.append((pattern, model,
                                 lambda model=model: model.mlp(xm)))

            def peer():
                with torch.no_grad():
                    return peer_model(xq)
            measure(f"MLP batch {m}",
                    2 * m * sum(ki * ni for ki, ni in LAYERS), peer, variants)

        # The whole int8 CNN (conv16-pool-conv32-pool-fc, the demo's): only
        # the second convolution can be cut in 4x16 blocks (the first has
        # one input channel, the classifier 10 outputs), as in the demo.
        for m in (256, 1):
            text = cnn_mlir(m)
            params = {name: (rng.standard_normal(shape) * 0.05).astype(
                np.float32) for name, shape in CNN_PARAMS.items()}
            image = rng.random((m, 28, 28, 1), dtype=np.float32)
            variants = []
            for pattern in ("dense", "75% 4x16"):
                k1 = params["k1"].reshape(9 * 16, 32)
                pruned = dict(params, k1=prune(k1, pattern).reshape(
                    params["k1"].shape))
                model = integer_model(text, pruned, image, workdir,
                                      f"cnn{m}_{len(variants)}")
                variants.append((pattern, model,
                                 lambda model=model: model.net(image)))
            torch.manual_seed(0)
            xt = torch.rand((m, 1, 28, 28))
            peer_model = fx_int8(torch_net("CNN").eval(), xt)

            def peer():
                with torch.no_grad():
                    return peer_model(xt)
            ops = 2 * m * (28 * 28 * 9 * 16 + 14 * 14 * 9 * 16 * 32 +
                           1568 * 10)
            measure(f"CNN batch {m}", ops, peer, variants)

    print(f"threads: {args.threads} on both sides (PyTorch {torch.__version__}"
          f", int8 engine onednn, dense); medians of {args.repeat}, timed in "
          f"turns; vpdpbusd peak {peak:.0f} GOP/s (bench/peak.c, measured "
          f"now)")
    header = (f"{'what':<26} {'pruning':<9} {'ms':>8} {'vs dense':>8} "
              f"{'vs PyTorch':>10} {'GOP/s*':>8} {'% peak':>7} "
              f"{'library KiB':>11}")
    print(header)
    print("-" * len(header))
    for what, pattern, ops, t, size, dense, peer in rows:
        print(f"{what:<26} {pattern:<9} {t * 1e3:>8.3f} {dense / t:>7.2f}x "
              f"{peer / t:>9.2f}x {ops / t / 1e9:>8.1f} "
              f"{100 * ops / t / 1e9 / peak:>6.1f}% {size / 1024:>11.1f}")
    print("* dense-equivalent: the dense layer's operations per second")


if __name__ == "__main__":
    main()
