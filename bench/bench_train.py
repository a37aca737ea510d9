#!/usr/bin/python3
"""Time per training step: our compiled @train_step next to PyTorch eager.

    /usr/bin/python3 bench/bench_train.py [--threads 2] [--steps 20] [--batches 64,256]

Networks on Fashion-MNIST shapes (28x28x1 images, 10 classes):
  MLP  784-256-128-10, ReLU
  CNN  conv3x3(16)+ReLU, maxpool2, conv3x3(32)+ReLU, maxpool2, linear(1568-10)
Each in fp32 and QAT (8-bit fake-quant weights per channel and activations per
tensor; ours: qat-instrument + LSQ scales, PyTorch: prepare_qat_fx with the
default qconfig mapping). One step = forward, softmax cross-entropy,
backward and an SGD-with-momentum update, on the same thread count both
sides. Median of --steps steps after 3 warm-up steps. Prints a table; no
pass/fail.
"""

import argparse
import statistics
import subprocess
import tempfile
import time
import warnings

import numpy as np
import torch
from torch import nn

from common import QAT_COMPILE, compile_model, use_threads  # noqa: F401

ROOT_QAT_OPT = QAT_COMPILE.replace("qat-compile", "qat-opt")

MLP_LAYERS = [(784, 256), (256, 128), (128, 10)]


def bias_relu(name, value, bias, shape, relu, rank):
    dims = ", ".join(f"d{i}" for i in range(rank))
    ty = "tensor<" + "x".join(map(str, shape)) + "xf32>"
    body = "%s = arith.addf %a, %b : f32\n"
    result = "%s"
    if relu:
        body += "    %r = arith.maximumf %s, %zero : f32\n"
        result = "%r"
    return f"""
  {name} = linalg.generic {{indexing_maps = [affine_map<({dims}) -> ({dims})>, affine_map<({dims}) -> (d{rank - 1})>, affine_map<({dims}) -> ({dims})>], iterator_types = [{", ".join(['"parallel"'] * rank)}]}}
      ins({value}, {bias} : {ty}, tensor<{shape[-1]}xf32>) outs(%empty_{name[1:]} : {ty}) {{
  ^bb0(%a: f32, %b: f32, %o: f32):
    {body}    linalg.yield {result} : f32
  }} -> {ty}"""


def mlp_mlir(batch):
    args = [f'%x: tensor<{batch}x784xf32> {{qat.name = "image"}}']
    body, h = [], "%x"
    for i, (k, n) in enumerate(MLP_LAYERS):
        args += [f'%w{i}: tensor<{k}x{n}xf32> {{qat.name = "w{i}"}}',
                 f'%b{i}: tensor<{n}xf32> {{qat.name = "b{i}"}}']
        body.append(f"""
  %empty_h{i} = tensor.empty() : tensor<{batch}x{n}xf32>
  %zf{i} = linalg.fill ins(%zero : f32) outs(%empty_h{i} : tensor<{batch}x{n}xf32>) -> tensor<{batch}x{n}xf32>
  %m{i} = linalg.matmul ins({h}, %w{i} : tensor<{batch}x{k}xf32>, tensor<{k}x{n}xf32>) outs(%zf{i} : tensor<{batch}x{n}xf32>) -> tensor<{batch}x{n}xf32>""")
        last = i == len(MLP_LAYERS) - 1
        body.append(bias_relu(f"%h{i}", f"%m{i}", f"%b{i}", (batch, n),
                              not last, 2))
        h = f"%h{i}"
    return (f"func.func @net({', '.join(args)}) -> tensor<{batch}x10xf32> {{\n"
            "  %zero = arith.constant 0.0 : f32" + "".join(body) +
            f"\n  return {h} : tensor<{batch}x10xf32>\n}}\n")


def cnn_mlir(b):
    def conv(i, x, size, cin, cout):
        return f"""
  %xp{i} = tensor.pad {x} low[0, 1, 1, 0] high[0, 1, 1, 0] {{
  ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
    tensor.yield %zero : f32
  }} : tensor<{b}x{size}x{size}x{cin}xf32> to tensor<{b}x{size + 2}x{size + 2}x{cin}xf32>
  %empty_c{i} = tensor.empty() : tensor<{b}x{size}x{size}x{cout}xf32>
  %zc{i} = linalg.fill ins(%zero : f32) outs(%empty_c{i} : tensor<{b}x{size}x{size}x{cout}xf32>) -> tensor<{b}x{size}x{size}x{cout}xf32>
  %c{i} = linalg.conv_2d_nhwc_hwcf {{dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}}
      ins(%xp{i}, %k{i} : tensor<{b}x{size + 2}x{size + 2}x{cin}xf32>, tensor<3x3x{cin}x{cout}xf32>) outs(%zc{i} : tensor<{b}x{size}x{size}x{cout}xf32>) -> tensor<{b}x{size}x{size}x{cout}xf32>
  %empty_r{i} = tensor.empty() : tensor<{b}x{size}x{size}x{cout}xf32>""" + \
            bias_relu(f"%r{i}", f"%c{i}", f"%kb{i}", (b, size, size, cout),
                      True, 4) + f"""
  %win{i} = tensor.empty() : tensor<2x2xf32>
  %empty_p{i} = tensor.empty() : tensor<{b}x{size // 2}x{size // 2}x{cout}xf32>
  %mp{i} = linalg.fill ins(%ninf : f32) outs(%empty_p{i} : tensor<{b}x{size // 2}x{size // 2}x{cout}xf32>) -> tensor<{b}x{size // 2}x{size // 2}x{cout}xf32>
  %p{i} = linalg.pooling_nhwc_max {{dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}}
      ins(%r{i}, %win{i} : tensor<{b}x{size}x{size}x{cout}xf32>, tensor<2x2xf32>) outs(%mp{i} : tensor<{b}x{size // 2}x{size // 2}x{cout}xf32>) -> tensor<{b}x{size // 2}x{size // 2}x{cout}xf32>"""

    return f"""func.func @net(%x: tensor<{b}x28x28x1xf32> {{qat.name = "image"}},
    %k0: tensor<3x3x1x16xf32> {{qat.name = "k0"}}, %kb0: tensor<16xf32> {{qat.name = "kb0"}},
    %k1: tensor<3x3x16x32xf32> {{qat.name = "k1"}}, %kb1: tensor<32xf32> {{qat.name = "kb1"}},
    %w: tensor<1568x10xf32> {{qat.name = "w"}}, %wb: tensor<10xf32> {{qat.name = "wb"}}) -> tensor<{b}x10xf32> {{
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32""" + conv(0, "%x", 28, 1, 16) + \
        conv(1, "%p0", 14, 16, 32) + f"""
  %flat = tensor.collapse_shape %p1 [[0], [1, 2, 3]] : tensor<{b}x7x7x32xf32> into tensor<{b}x1568xf32>
  %empty_y = tensor.empty() : tensor<{b}x10xf32>
  %zy = linalg.fill ins(%zero : f32) outs(%empty_y : tensor<{b}x10xf32>) -> tensor<{b}x10xf32>
  %y = linalg.matmul ins(%flat, %w : tensor<{b}x1568xf32>, tensor<1568x10xf32>) outs(%zy : tensor<{b}x10xf32>) -> tensor<{b}x10xf32>""" + \
        bias_relu("%out", "%y", "%wb", (b, 10), False, 2).replace(
            "%empty_out", "%empty_y") + f"""
  return %out : tensor<{b}x10xf32>
}}
"""


def torch_net(kind):
    if kind == "MLP":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(),
                             nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(1568, 10))


def time_steps(step, steps):
    for _ in range(3):
        step()
    samples = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def ours(kind, batch, qat, steps, workdir):
    text = mlp_mlir(batch) if kind == "MLP" else cnn_mlir(batch)
    flags = (["--qat-instrument"] if qat else []) + ["--qat-build-train-step"]
    text = subprocess.run([ROOT_QAT_OPT, "-", *flags], input=text,
                          capture_output=True, text=True, check=True).stdout
    model = compile_model(text, workdir, f"{kind}_{batch}_{int(qat)}")
    rng = np.random.default_rng(0)
    shape = (batch, 784) if kind == "MLP" else (batch, 28, 28, 1)
    image = rng.random(shape, dtype=np.float32)
    labels = rng.integers(0, 10, batch).astype(np.int32)
    values = {}
    for arg in model.net.args:
        values[arg.name] = (rng.standard_normal(arg.shape) * 0.05).astype(
            np.float32)
    values["image"] = image
    if qat:
        init = model.net_init_qparams
        out = init(*[values[a.name] for a in init.args])
        values.update({r.name: v for r, v in zip(init.results, out)})
    step = model.train_step
    args = []
    for arg in step.args:
        kind_, _, name = arg.name.partition(":")
        if arg.name == "labels":
            args.append(labels)
        elif arg.name == "lr":
            args.append(np.float32(0.01))
        elif kind_ in ("param", "qparam", "input"):
            args.append(values[name])
        else:
            args.append(np.zeros(arg.shape, np.float32))
    return time_steps(lambda: step(*args), steps)


def pytorch(kind, batch, qat, steps):
    torch.manual_seed(0)
    net = torch_net(kind).train()
    shape = (batch, 1, 28, 28)
    image = torch.rand(shape)
    labels = torch.randint(0, 10, (batch,))
    if qat:
        from torch.ao.quantization import get_default_qat_qconfig_mapping
        from torch.ao.quantization.quantize_fx import prepare_qat_fx
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = prepare_qat_fx(net, get_default_qat_qconfig_mapping("x86"),
                                 example_inputs=(image,))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad()
        loss = loss_fn(net(image), labels)
        loss.backward()
        optimizer.step()

    return time_steps(step, steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batches", default="64,256")
    parser.add_argument("--models", default="MLP,CNN")
    options = parser.parse_args()
    use_threads(options.threads)
    print(f"ms per training step, {options.threads} threads, median of "
          f"{options.steps} (PyTorch {torch.__version__})\n")
    print("| network | batch | mode | ours | PyTorch eager | ratio (PyTorch / ours) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as workdir:
        for kind in options.models.split(","):
            for batch in map(int, options.batches.split(",")):
                for qat in (False, True):
                    mine = ours(kind, batch, qat, options.steps, workdir)
                    theirs = pytorch(kind, batch, qat, options.steps)
                    print(f"| {kind} | {batch} | {'QAT int8' if qat else 'fp32'}"
                          f" | {mine * 1e3:.2f} | {theirs * 1e3:.2f} | "
                          f"{theirs / mine:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
