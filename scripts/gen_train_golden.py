#!/usr/bin/python3
"""Writes python/tests/golden/qat_convnet.npz: a small QAT network's weights,
quantization parameters, inputs, loss and every gradient, computed by
PyTorch (Debian's python3-torch) autograd with its learnable fake-quant ops.

The network is python/tests/golden/qat_convnet.mlir after
`qat-opt --qat-instrument`: a 3x3 conv (NHWC/HWCF) + bias + ReLU, flattened,
and a linear layer, with fake-quants where qat-instrument places them:

  image      per tensor, unsigned 8-bit affine, learnable scale
  w1         per output channel (axis 3), signed 8-bit narrow symmetric
  conv_0     after bias + ReLU, per tensor, unsigned 8-bit affine
  w2         per output column (axis 1), signed 8-bit narrow symmetric
  matmul_0   the logits (after the bias), per tensor, unsigned 8-bit affine

Scales get LSQ gradients with grad_factor = 1 / sqrt(numel * qmax) (numel
per channel for per-channel scales), as qat-build-train-step uses. Zero
points are fixed integers (no gradient). The loss is the mean softmax
cross-entropy.

Usage: /usr/bin/python3 scripts/gen_train_golden.py [output.npz]
"""

import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "..", "python", "tests", "golden",
                       "qat_convnet.npz")


def grad_factor(numel, qmax):
    return float(np.float32(1.0 / math.sqrt(numel * qmax)))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
    rng = np.random.default_rng(2024)
    f32 = np.float32
    data = {
        "image": rng.random((2, 6, 6, 2), dtype=f32) * 2 - 0.5,
        "w1": (rng.standard_normal((3, 3, 2, 4)) * 0.4).astype(f32),
        "b1": (rng.standard_normal(4) * 0.1).astype(f32),
        "w2": (rng.standard_normal((64, 5)) * 0.2).astype(f32),
        "b2": (rng.standard_normal(5) * 0.1).astype(f32),
        "labels": np.array([1, 3], np.int32),
        # Quantization parameters (as qat-instrument names them).
        "conv_0.weight_scale": np.full(4, 0.01, f32) * (1 + np.arange(4, dtype=f32)),
        "image.act_scale": f32(0.0075),
        "image.act_zero_point": np.int32(60),
        "matmul_0.weight_scale": np.full(5, 0.004, f32) * (1 + np.arange(5, dtype=f32) / 4),
        "conv_0.act_scale": f32(0.02),
        "conv_0.act_zero_point": np.int32(0),
        "matmul_0.act_scale": f32(0.03),
        "matmul_0.act_zero_point": np.int32(120),
    }

    def t(name, grad=True):
        return torch.tensor(np.asarray(data[name]), dtype=torch.float32,
                            requires_grad=grad)

    image = t("image", False)
    w1, b1, w2, b2 = t("w1"), t("b1"), t("w2"), t("b2")
    scales = {k: t(k) for k in data if k.endswith("_scale")}

    def fq_tensor(x, name):
        zp = torch.tensor(float(data[name + ".act_zero_point"]))
        return torch._fake_quantize_learnable_per_tensor_affine(
            x, scales[name + ".act_scale"].reshape(1), zp.reshape(1), 0, 255,
            grad_factor(x.numel(), 255))

    def fq_channel(w, name, axis):
        s = scales[name + ".weight_scale"]
        channels = w.shape[axis]
        return torch._fake_quantize_learnable_per_channel_affine(
            w, s, torch.zeros(channels), axis, -127, 127,
            grad_factor(w.numel() // channels, 127))

    x = fq_tensor(image, "image").permute(0, 3, 1, 2)          # NCHW
    w = fq_channel(w1, "conv_0", 3).permute(3, 2, 0, 1)       # FCHW
    h = torch.relu(torch.nn.functional.conv2d(x, w) +
                   b1[None, :, None, None])
    h = fq_tensor(h.permute(0, 2, 3, 1), "conv_0")            # NHWC
    flat = h.reshape(2, 64)
    y = flat @ fq_channel(w2, "matmul_0", 1) + b2
    y = fq_tensor(y, "matmul_0")
    loss = torch.nn.functional.cross_entropy(
        y, torch.tensor(data["labels"], dtype=torch.long))
    loss.backward()

    golden = {k: np.asarray(v) for k, v in data.items()}
    golden["loss"] = np.float32(loss.item())
    for name, tensor in [("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)]:
        golden["grad:" + name] = tensor.grad.numpy()
    for name, tensor in scales.items():
        golden["grad:" + name] = tensor.grad.numpy().reshape(
            np.shape(data[name]))
    golden["torch_version"] = np.array(torch.__version__)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    np.savez(out, **golden)
    print(f"wrote {out}: loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
