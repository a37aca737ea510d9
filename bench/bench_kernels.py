#!/usr/bin/python3
"""Kernel benchmark: qat-mlir's compiled code next to PyTorch, in one run.

    /usr/bin/python3 bench/bench_kernels.py [--threads 1|2] [--repeat 5]

For each layer shape it compiles a one-op program with qat-compile (the same
path a model takes), runs it through the runtime, and times PyTorch on the
same data: fp32 torch.matmul / conv2d, and int8 quantized linear / conv of
PyTorch's 'onednn' engine. Times are medians of --repeat runs, each the mean
over enough iterations to last about 0.2 s. Throughput counts 2 ops per
multiply-accumulate; the % columns divide it by this machine's peak on the
same threads, measured in the same run by bench/peak.c (FMA for fp32,
vpdpbusd for int8). Prints a table; no pass/fail.
"""

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch

from common import compile_model, machine_peak, use_threads


def timeit(fn, repeat):
    fn()  # warm up
    start = time.perf_counter()
    iterations = 0
    while time.perf_counter() - start < 0.05:
        fn()
        iterations += 1
    per_call = (time.perf_counter() - start) / iterations
    n = max(1, int(0.2 / per_call))
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples)


def matmul_mlir(m, k, n, in_type, acc_type, zero):
    return f"""
func.func @f(%a: tensor<{m}x{k}x{in_type}>, %b: tensor<{k}x{n}x{in_type}>) -> tensor<{m}x{n}x{acc_type}> {{
  %zero = arith.constant {zero} : {acc_type}
  %e = tensor.empty() : tensor<{m}x{n}x{acc_type}>
  %z = linalg.fill ins(%zero : {acc_type}) outs(%e : tensor<{m}x{n}x{acc_type}>) -> tensor<{m}x{n}x{acc_type}>
  %c = linalg.matmul ins(%a, %b : tensor<{m}x{k}x{in_type}>, tensor<{k}x{n}x{in_type}>)
                     outs(%z : tensor<{m}x{n}x{acc_type}>) -> tensor<{m}x{n}x{acc_type}>
  return %c : tensor<{m}x{n}x{acc_type}>
}}
"""


def int8_linear_mlir(m, k, n, weights):
    """C = A x W with W a constant (frozen weights, packed at compile time)."""
    data = "0x" + weights.astype(np.int8).tobytes().hex().upper()
    return f"""
func.func @f(%a: tensor<{m}x{k}xi8>) -> tensor<{m}x{n}xi32> {{
  %w = arith.constant dense<"{data}"> : tensor<{k}x{n}xi8>
  %zero = arith.constant 0 : i32
  %e = tensor.empty() : tensor<{m}x{n}xi32>
  %z = linalg.fill ins(%zero : i32) outs(%e : tensor<{m}x{n}xi32>) -> tensor<{m}x{n}xi32>
  %c = linalg.matmul ins(%a, %w : tensor<{m}x{k}xi8>, tensor<{k}x{n}xi8>)
                     outs(%z : tensor<{m}x{n}xi32>) -> tensor<{m}x{n}xi32>
  return %c : tensor<{m}x{n}xi32>
}}
"""


def conv_mlir(n, h, w, c, f, in_type, acc_type, zero):
    oh, ow = h - 2, w - 2
    out = f"tensor<{n}x{oh}x{ow}x{f}x{acc_type}>"
    return f"""
func.func @f(%x: tensor<{n}x{h}x{w}x{c}x{in_type}>, %k: tensor<3x3x{c}x{f}x{in_type}>) -> {out} {{
  %zero = arith.constant {zero} : {acc_type}
  %e = tensor.empty() : {out}
  %z = linalg.fill ins(%zero : {acc_type}) outs(%e : {out}) -> {out}
  %c = linalg.conv_2d_nhwc_hwcf {{dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}}
      ins(%x, %k : tensor<{n}x{h}x{w}x{c}x{in_type}>, tensor<3x3x{c}x{f}x{in_type}>) outs(%z : {out}) -> {out}
  return %c : {out}
}}
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    use_threads(args.threads)
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        # fp32 matmul: M x K x N.
        for m, k, n in [(256, 784, 64), (1024, 1024, 1024)]:
            model = compile_model(matmul_mlir(m, k, n, "f32", "f32", "0.0"),
                                  workdir, f"mm{m}_{k}_{n}")
            a = rng.standard_normal((m, k), dtype=np.float32)
            b = rng.standard_normal((k, n), dtype=np.float32)
            np.testing.assert_allclose(model.f(a, b), a @ b, rtol=2e-3,
                                       atol=2e-3)
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            ops = 2 * m * k * n
            rows.append(("fp32 matmul", f"{m}x{k}x{n}", ops,
                         timeit(lambda: model.f(a, b), args.repeat),
                         "torch.matmul",
                         timeit(lambda: torch.matmul(ta, tb), args.repeat)))
        # fp32 conv 3x3, NHWC for us, NCHW for PyTorch (its native layout).
        n, h, w, c, f = 1, 28, 28, 32, 32
        model = compile_model(conv_mlir(n, h, w, c, f, "f32", "f32", "0.0"),
                              workdir, "conv")
        x = rng.standard_normal((n, h, w, c), dtype=np.float32)
        kern = rng.standard_normal((3, 3, c, f), dtype=np.float32)
        tx = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
        tk = torch.from_numpy(kern).permute(3, 2, 0, 1).contiguous()
        ref = torch.nn.functional.conv2d(tx, tk).permute(0, 2, 3, 1).numpy()
        np.testing.assert_allclose(model.f(x, kern), ref, rtol=2e-3,
                                   atol=2e-3)
        ops = 2 * n * (h - 2) * (w - 2) * f * 9 * c
        rows.append(("fp32 conv3x3", f"{n}x{h}x{w}x{c}->{f}", ops,
                     timeit(lambda: model.f(x, kern), args.repeat),
                     "torch conv2d",
                     timeit(lambda: torch.nn.functional.conv2d(tx, tk),
                            args.repeat)))
        # int8 matmul (int32 accumulation) with constant weights, as in a
        # deployed layer, against quantized Linear (its weights prepacked).
        for m, k, n in [(256, 784, 64), (1024, 1024, 1024)]:
            a = rng.integers(-128, 128, (m, k), dtype=np.int8)
            b = rng.integers(-128, 128, (k, n), dtype=np.int8)
            model = compile_model(int8_linear_mlir(m, k, n, b), workdir,
                                  f"qmm{m}_{k}_{n}")
            np.testing.assert_array_equal(
                model.f(a), a.astype(np.int32) @ b.astype(np.int32))
            linear = torch.ao.nn.quantized.Linear(k, n)
            wq = torch.quantize_per_tensor(
                torch.from_numpy(b.T.astype(np.float32)) * 0.01, 0.01, 0,
                torch.qint8)
            linear.set_weight_bias(wq, None)
            xq = torch.quantize_per_tensor(
                torch.from_numpy(a.astype(np.float32) + 128.0), 1.0, 0,
                torch.quint8)
            ops = 2 * m * k * n
            rows.append(("int8 matmul", f"{m}x{k}x{n}", ops,
                         timeit(lambda: model.f(a), args.repeat),
                         "quantized Linear",
                         timeit(lambda: linear(xq), args.repeat)))

    vnni, fma = machine_peak(args.threads) or (float("nan"),) * 2
    print(f"threads: {args.threads} on both sides (PyTorch {torch.__version__}, "
          f"int8 engine "
          f"{torch.backends.quantized.engine}); medians of {args.repeat}; "
          f"peak {fma:.0f} GFLOP/s FMA, {vnni:.0f} GOP/s vpdpbusd")
    header = (f"{'kernel':<14} {'shape':<16} {'qat-mlir ms':>11} "
              f"{'GOP/s':>8} {'% peak':>6} {'peer':<17} {'peer ms':>9} "
              f"{'GOP/s':>8} {'% peak':>6} {'speed-up':>8}")
    print(header)
    print("-" * len(header))
    for kernel, shape, ops, ours, peer, theirs in rows:
        peak = vnni if kernel.startswith("int8") else fma
        print(f"{kernel:<14} {shape:<16} {ours * 1e3:>11.3f} "
              f"{ops / ours / 1e9:>8.2f} {100 * ops / ours / 1e9 / peak:>5.0f}% "
              f"{peer:<17} {theirs * 1e3:>9.3f} "
              f"{ops / theirs / 1e9:>8.2f} "
              f"{100 * ops / theirs / 1e9 / peak:>5.0f}% {theirs / ours:>7.2f}x")

if __name__ == "__main__":
    main()
