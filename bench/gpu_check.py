#!/usr/bin/env python3
"""The GPU check (run by bench/gpu_check.sh on a machine with a GPU): the
libraries bench/gpu_prepare.py built, checked and timed next to PyTorch.

Checks, each printed PASS or FAIL:
  * the demo CNN's int8 program on the GPU gives the bits the CPU gave
    (cnn_expected.npz);
  * the int8 GEMMs give torch._int_mm's int32 results exactly.
Then a table, medians of --repeat calls after a warm-up:
  * int8 GEMM 4096^3 and 8192^3: TOPS, ours (a call: copies in, kernel,
    copy out) against torch._int_mm (cuBLASLt IMMA, tensors resident on the
    GPU), and against the chip's dense int8 peak;
  * the demo CNN at batch 256: ours int8 against PyTorch fp16 and bf16;
  * ResNet-18 at batch 256, 224 x 224 (when gpu_prepare.py built it): its
    bits against the CPU's, and ours int8 against torchvision's ResNet-18
    in fp16 and bf16 (when torchvision is installed).
Our times are whole calls: the input copied to the GPU, every kernel, the
result copied back. Needs numpy and PyTorch with CUDA; no LLVM.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

#: Dense int8 tensor-core peak, TOPS, by device name (vendor data sheets).
INT8_PEAK_TOPS = {"H200": 1979.0, "H100": 1979.0, "A100": 624.0}

RESNET_BATCH = 256


def resnet_input(batch):
    """The ResNet-18 input both machines make: a fixed pattern in [-1, 1)
    (no random generator, whose streams may differ between numpy
    versions), so that only the expected logits travel."""
    count = batch * 3 * 224 * 224
    values = (np.arange(count, dtype=np.int64) * 7919) % 2000
    return (values.astype(np.float32) / 1000 - 1).reshape(batch, 3, 224, 224)


def median_seconds(fn, repeat, sync=lambda: None):
    fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--artifacts", required=True)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    import torch
    from qat.runtime import Model

    if not torch.cuda.is_available():
        print("gpu_check: PyTorch sees no CUDA device; this check runs on a "
              "machine with a GPU", file=sys.stderr)
        return 2
    art = args.artifacts
    with open(os.path.join(art, "manifest.json")) as f:
        manifest = json.load(f)
    device = torch.cuda.get_device_name(0)
    peak = next((v for k, v in INT8_PEAK_TOPS.items() if k in device), None)
    print(f"device: {device}; libraries built for {manifest['arch']} by "
          f"{manifest['qat-compile']}")
    sync = torch.cuda.synchronize
    failures = 0

    def report(name, ok, detail=""):
        nonlocal failures
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'}: {name}{detail}", flush=True)

    rows = []
    # The CNN: bits against the CPU, then time against PyTorch fp16/bf16.
    cnn = Model(os.path.join(art, "libcnn_int8_gpu.so"))
    if cnn.unavailable:
        report("the CNN library runs", False, f" ({cnn.unavailable})")
        return 1
    with np.load(os.path.join(art, "cnn_expected.npz")) as z:
        x, expected = z["x"], z["y"]

    def same_bits(what, got, expected):
        same = np.array_equal(got, expected)
        report(f"{what} on the GPU = the CPU program, bit for bit", same,
               "" if same else
               f" (max difference {np.abs(got - expected).max()})")

    def against_pytorch(what, ours, net, x):
        """Rows of `ours` (seconds a call) beside `net` on the GPU in fp16
        and bf16 on the same input."""
        for dtype, label in ((torch.float16, "fp16"),
                             (torch.bfloat16, "bf16")):
            model = net.cuda().eval().to(dtype)
            xt = torch.from_numpy(x).cuda().to(dtype)
            with torch.no_grad():
                theirs = median_seconds(lambda: model(xt), args.repeat, sync)
            rows.append((f"{what} (PyTorch {label})", f"{ours * 1e3:.3f} ms",
                         f"{theirs * 1e3:.3f} ms", f"{theirs / ours:.2f}x",
                         "-"))

    same_bits("demo CNN int8", cnn.cnn(x), expected)
    against_pytorch(
        "demo CNN, batch 256",
        median_seconds(lambda: cnn.cnn(x), args.repeat),
        torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2), torch.nn.Conv2d(16, 32, 3, padding=1),
            torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
            torch.nn.Linear(1568, 10)), x)

    # GEMMs: exact against torch._int_mm, then TOPS.
    rng = np.random.default_rng(0)
    for name in sorted(manifest["libraries"]):
        if not name.startswith("libgemm"):
            continue
        n = int(name[len("libgemm"):-len(".so")])
        gemm = Model(os.path.join(art, name))
        a = rng.integers(-128, 128, (n, n), dtype=np.int8)
        b = rng.integers(-128, 128, (n, n), dtype=np.int8)
        at, bt = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
        reference = torch._int_mm(at, bt).cpu().numpy()
        mine = gemm.gemm(a, b)
        report(f"int8 GEMM {n}^3 = torch._int_mm", np.array_equal(mine,
                                                                 reference))
        ops = 2.0 * n ** 3
        ours = median_seconds(lambda: gemm.gemm(a, b), args.repeat)
        theirs = median_seconds(lambda: torch._int_mm(at, bt), args.repeat,
                                sync)
        share = f"{100 * ops / ours / 1e12 / peak:.1f}%" if peak else "-"
        rows.append((f"int8 GEMM {n}^3 (torch._int_mm)",
                     f"{ops / ours / 1e12:.2f} TOPS",
                     f"{ops / theirs / 1e12:.2f} TOPS",
                     f"{theirs / ours:.3f}x", share))
        del at, bt

    # ResNet-18: bits against the CPU, then time against torchvision's.
    if "libresnet18_int8_gpu.so" in manifest["libraries"]:
        resnet = Model(os.path.join(art, "libresnet18_int8_gpu.so"))
        x = resnet_input(RESNET_BATCH)
        with np.load(os.path.join(art, "resnet18_expected.npz")) as z:
            expected = z["y"]
        same_bits("ResNet-18 int8", resnet.net(x), expected)
        ours = median_seconds(lambda: resnet.net(x), args.repeat)
        try:
            import torchvision
            against_pytorch(f"ResNet-18, batch {RESNET_BATCH}", ours,
                            torchvision.models.resnet18(), x)
        except ImportError:
            rows.append((f"ResNet-18, batch {RESNET_BATCH}",
                         f"{ours * 1e3:.3f} ms", "no torchvision", "-", "-"))
    else:
        print("ResNet-18: not built (gpu_prepare.py --no-resnet18)")

    print()
    header = ("what", "ours", "PyTorch", "ours / PyTorch speed",
              "ours, % of int8 peak")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(5)]
    for row in [header] + rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
