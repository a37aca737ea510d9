#!/usr/bin/python3
"""Builds, on this (CPU) machine, everything bench/gpu_check.sh runs on a GPU
machine, which has CUDA and PyTorch but no LLVM.

    /usr/bin/python3 bench/gpu_prepare.py [--out bench/gpu-artifacts] [--arch sm_90]

Writes into --out (git ignores it; the device tool carries it):
  libqat_runtime.so            the C runtime (opens libcuda.so.1 with dlopen)
  libgemm<N>.so                int8 x int8 -> int32 matmul NxNxN, GPU code
  libcnn_int8_gpu.so           the demo CNN's integer program at batch 256
  cnn_expected.npz             its input, and its output computed on this CPU
                               by the same program compiled for the CPU
  libresnet18_int8_gpu.so      torchvision's ResNet-18 (random weights,
                               batch-norm statistics and int8 ranges from 16
                               images) as an integer program at batch 256,
                               224 x 224, as a cubin (--no-resnet18 skips it)
  resnet18_expected.npz        its logits computed on this CPU for the input
                               gpu_check.resnet_input() makes on both sides
  manifest.json                what was built, with which qat-compile

The ResNet-18 step (calibration at 224 x 224, two compilations of the
batch-256 program and its run on the CPU) took most of the 1-2 minutes the
whole script took on the 2-core CPU machine.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

import numpy as np  # noqa: E402

from qat import locations, models, pipeline, workflow  # noqa: E402
from qat.onnx_import import import_onnx  # noqa: E402
from qat.runtime import Model  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "bench"))
from gpu_check import RESNET_BATCH, resnet_input  # noqa: E402

GEMM_SIZES = (4096, 8192)
CNN_BATCH = 256


def gemm_text(n):
    return f"""
func.func @gemm(%a: tensor<{n}x{n}xi8>, %b: tensor<{n}x{n}xi8>) -> tensor<{n}x{n}xi32> {{
  %zero = arith.constant 0 : i32
  %e = tensor.empty() : tensor<{n}x{n}xi32>
  %acc = linalg.fill ins(%zero : i32) outs(%e : tensor<{n}x{n}xi32>) -> tensor<{n}x{n}xi32>
  %c = linalg.matmul ins(%a, %b : tensor<{n}x{n}xi8>, tensor<{n}x{n}xi8>) outs(%acc : tensor<{n}x{n}xi32>) -> tensor<{n}x{n}xi32>
  return %c : tensor<{n}x{n}xi32>
}}
"""


def cnn_int8(work):
    """The demo CNN (random weights, calibrated on random images) as an
    integer program at batch CNN_BATCH."""
    import onnx
    path = os.path.join(work, "cnn.onnx")
    onnx.save(models.cnn(), path)
    imported = import_onnx(path, batch=CNN_BATCH)
    instrumented = workflow.instrument(imported.text)
    trainer = workflow.Trainer(instrumented, imported.params, work, "calib",
                               range_learning="none")
    x = np.random.default_rng(0).random((2 * CNN_BATCH, 1, 28, 28),
                                        dtype=np.float32)
    trainer.calibrate(x, 2)
    frozen = workflow.freeze(instrumented, trainer.values, "cnn")
    return workflow.convert(frozen)


def resnet18_int8(work, batch=RESNET_BATCH, size=224):
    """torchvision's ResNet-18 (random weights, seeded; batch-norm
    statistics estimated on 16 images) as an integer program at `batch`:
    calibrated at batch 2 on those images, then imported again at the full
    batch and frozen with the same ranges."""
    import torch
    sys.path.insert(0, os.path.join(ROOT, "python", "tests"))
    from model_zoo import build, images
    x, _ = images(16, size)
    net = build("resnet18", x, size)
    path = os.path.join(work, "resnet18.onnx")
    torch.onnx.export(net, torch.tensor(x[:2]), path, input_names=["image"],
                      output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}}, opset_version=13)
    small = import_onnx(path, batch=2, name="net")
    instrumented = workflow.instrument(small.text)
    calibrator = workflow.Trainer(instrumented, small.params, work,
                                  "resnet_calib", range_learning="none",
                                  functions=("calibrate", "qparams"))
    values = dict(small.params)
    values.update(calibrator.calibrate(x, max_batches=8))
    full = import_onnx(path, batch=batch, name="net")
    frozen = workflow.freeze(workflow.instrument(full.text), values, "net")
    return workflow.convert(frozen)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.path.join(ROOT, "bench",
                                                 "gpu-artifacts"))
    p.add_argument("--arch", default="sm_90")
    p.add_argument("--no-resnet18", dest="resnet18", action="store_false",
                   help="skip ResNet-18 (most of the run time)")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    gpu = ["--target=nvptx", f"--gpu-arch={args.arch}"]
    built = {}
    with tempfile.TemporaryDirectory() as work:
        for n in GEMM_SIZES:
            name = f"libgemm{n}.so"
            pipeline.compile_library(gemm_text(n),
                                     os.path.join(args.out, name), gpu)
            built[name] = f"int8 GEMM {n}^3"
            print(f"built {name}", flush=True)
        text = cnn_int8(work)
        pipeline.compile_library(text, os.path.join(args.out,
                                                    "libcnn_int8_gpu.so"), gpu)
        cpu = Model(pipeline.compile_library(
            text, os.path.join(work, "libcnn_int8_cpu.so")))
        x = np.random.default_rng(1).random((CNN_BATCH, 1, 28, 28),
                                            dtype=np.float32)
        np.savez(os.path.join(args.out, "cnn_expected.npz"), x=x,
                 y=cpu.cnn(x))
        built["libcnn_int8_gpu.so"] = f"demo CNN int8, batch {CNN_BATCH}"
        print("built libcnn_int8_gpu.so and its expected output", flush=True)
        if args.resnet18:
            text = resnet18_int8(work)
            print("ResNet-18: integer program at batch "
                  f"{RESNET_BATCH}", flush=True)
            # A cubin: the weights are part of the device image, and as
            # PTX text they would be four times their size.
            pipeline.compile_library(
                text, os.path.join(args.out, "libresnet18_int8_gpu.so"),
                gpu + ["--gpu-format=bin"])
            cpu = Model(pipeline.compile_library(
                text, os.path.join(work, "libresnet18_int8_cpu.so")))
            np.savez(os.path.join(args.out, "resnet18_expected.npz"),
                     y=cpu.net(resnet_input(RESNET_BATCH)))
            built["libresnet18_int8_gpu.so"] = (
                f"ResNet-18 int8, batch {RESNET_BATCH}, 224x224")
            print("built libresnet18_int8_gpu.so and its expected output",
                  flush=True)
    shutil.copy(locations.runtime_library(),
                os.path.join(args.out, "libqat_runtime.so"))
    version = subprocess.run([pipeline.tool("qat-compile"), "--version"],
                             capture_output=True, text=True).stdout.strip()
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump({"arch": args.arch, "qat-compile": version,
                   "libraries": built}, f, indent=1)
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
