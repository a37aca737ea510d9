#!/usr/bin/python3
"""Real networks, imported from ONNX, next to PyTorch.

    /usr/bin/python3 bench/bench_models.py [--threads 1] [--batches 1,16]
        [--models resnet18,mobilenet_v2,transformer]

ResNet-18 and MobileNetV2 (torchvision, 224 x 224, random weights with
batch-norm statistics estimated on data) and a transformer encoder (4
layers, width 256, 8 heads, 64 tokens; GELU, layer norm), exported to ONNX
at opset 13. Ours: `qat-import`, then fp32 (weights frozen as constants)
and int8 (qat-instrument-pipeline, ranges from a calibration batch through
@<f>_init_qparams, qat-freeze, qat-deploy-pipeline), compiled by
qat-compile, called through the runtime. PyTorch 1.13: the same network in
fp32 and as FX static int8 (prepare_fx / convert_fx, x86 qconfig, the
'onednn' engine). Same thread count on both sides; medians per call. The
GMAC column counts the network's multiply-adds; the % columns are GFLOP/s
(2 per MAC) against the FMA peak (fp32) and the vpdpbusd peak (int8) of
shared/TARGETS.md. Prints the tables; no pass/fail.
"""

import argparse
import io
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

from common import compile_model, fx_int8, machine_peak, use_threads

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "python", "tests"))
import model_zoo  # noqa: E402
from qat.onnx_import import import_onnx  # noqa: E402
from qat.pipeline import ToolError, run, save_values  # noqa: E402



class Encoder(torch.nn.Module):
    """A ViT-style encoder over 64 tokens of 256 features."""

    def __init__(self, layers=4, width=256, heads=8, tokens=64):
        super().__init__()
        layer = torch.nn.TransformerEncoderLayer(
            width, heads, dim_feedforward=4 * width, dropout=0.0,
            activation="gelu", batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, layers)
        self.head = torch.nn.Linear(width, 10)
        self.tokens, self.width = tokens, width

    def forward(self, x):
        return self.head(self.encoder(x)[:, 0])


def network(name):
    """(torch module, an input batch of 1)."""
    torch.manual_seed(0)
    if name == "transformer":
        net = Encoder().eval()
        return net, np.random.default_rng(0).standard_normal(
            (1, net.tokens, net.width)).astype(np.float32)
    x, _ = model_zoo.images(16)
    return model_zoo.build(name, x, 224), x[:1]


def count_macs(net, x):
    """Multiply-adds of one forward over x (convolutions, linear layers and
    the attention products)."""
    if isinstance(net, Encoder):
        # Counted by hand: PyTorch's fused encoder path skips module hooks.
        layers = len(net.encoder.layers)
        s, d = net.tokens, net.width
        per_layer = s * d * d * 4 + 2 * s * d * 4 * d + 2 * s * s * d
        return layers * per_layer + d * 10
    macs = [0]

    def conv(m, i, o):
        macs[0] += o.numel() * m.in_channels // m.groups * \
            int(np.prod(m.kernel_size))

    def linear(m, i, o):
        macs[0] += o.numel() * m.in_features

    def attention(m, i, o):
        q = i[0]
        n, s, d = q.shape
        macs[0] += 2 * n * s * s * d  # scores and their weighted sum

    hooks = []
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            hooks.append(m.register_forward_hook(conv))
        elif isinstance(m, torch.nn.Linear):
            hooks.append(m.register_forward_hook(linear))
        elif isinstance(m, torch.nn.MultiheadAttention):
            hooks.append(m.register_forward_hook(attention))
    with torch.no_grad():
        net(torch.tensor(x))
    for h in hooks:
        h.remove()
    return macs[0]


def per_call(fn, seconds=1.0):
    fn()
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 3:
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def ours(name, net, x, batch, workdir):
    path = os.path.join(workdir, f"{name}.onnx")
    torch.onnx.export(net, torch.tensor(x), path, input_names=["image"],
                      output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}}, opset_version=13)
    imported = import_onnx(path, batch=batch, name="net")
    xb = np.ascontiguousarray(np.repeat(x, batch, axis=0))
    values_path = save_values(os.path.join(workdir, f"{name}.npz"),
                              imported.params)
    t = time.time()
    fp32 = compile_model(run(imported.text, "qat-freeze", values=values_path,
                             function="net"), workdir, f"{name}{batch}_fp32")
    compile_fp32 = time.time() - t
    t_fp32 = per_call(lambda: fp32.net(xb))
    try:
        return int8_program(name, imported, xb, batch, workdir, fp32, t_fp32,
                            compile_fp32)
    except ToolError as err:  # reported in the table, not raised
        print(f"<!-- {name}: int8: {str(err).splitlines()[0][:200]} -->")
        return ((t_fp32, None), (os.path.getsize(fp32.path), None),
                (compile_fp32, None))


def int8_program(name, imported, xb, batch, workdir, fp32, t_fp32,
                 compile_fp32):
    instrumented = run(imported.text, "qat-instrument-pipeline")
    init_model = compile_model(instrumented, workdir, f"{name}{batch}_init")
    init = init_model.net_init_qparams
    feeds = dict(imported.params, image=xb)
    out = init(*[feeds[a.name] for a in init.args])
    qparams = {r.name: v for r, v in zip(init.results, out)}
    qvalues = save_values(os.path.join(workdir, f"{name}{batch}q.npz"),
                          dict(imported.params, **qparams))
    t = time.time()
    frozen = run(instrumented, "qat-freeze", values=qvalues, function="net")
    int8 = compile_model(run(frozen, "qat-deploy-pipeline"), workdir,
                         f"{name}{batch}_int8")
    compile_int8 = time.time() - t
    times = (t_fp32, per_call(lambda: int8.net(xb)))
    sizes = tuple(os.path.getsize(m.path) for m in (fp32, int8))
    return times, sizes, (compile_fp32, compile_int8)


def pytorch(net, x, batch):
    xb = torch.tensor(np.repeat(x, batch, axis=0))
    with torch.no_grad():
        t_float = per_call(lambda: net(xb))
        quantized = fx_int8(net, xb)
        t_int = per_call(lambda: quantized(xb))
    sizes = []
    for model in (net, quantized):
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        sizes.append(buffer.tell())
    return (t_float, t_int), tuple(sizes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--models", default="resnet18,mobilenet_v2,"
                        "transformer")
    options = parser.parse_args()
    use_threads(options.threads)
    # The peaks, measured now on as many threads (bench/peak.c).
    vnni, fma = machine_peak(options.threads) or (float("nan"),) * 2
    print(f"ms per call, {options.threads} thread(s) (PyTorch "
          f"{torch.__version__}, quantized engine "
          f"{torch.backends.quantized.engine})\n")
    print("| network | batch | GMAC | ours fp32 | PyTorch fp32 | PyTorch / "
          "ours | ours % FMA peak | ours int8 | PyTorch FX int8 | PyTorch / "
          "ours | ours % VNNI peak |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    sizes, compiles = {}, {}
    with tempfile.TemporaryDirectory() as workdir:
        for name in options.models.split(","):
            net, x = network(name)
            macs = count_macs(net, x)
            for batch in map(int, options.batches.split(",")):
                (f32, i8), osize, ctime = ours(name, net, x, batch, workdir)
                (tf32, ti8), tsize = pytorch(net, x, batch)
                sizes[name] = osize + tsize
                compiles[name, batch] = ctime
                gmac = macs * batch / 1e9
                int8 = (f"{i8 * 1e3:.2f} | {ti8 * 1e3:.2f} | {ti8 / i8:.2f}x | "
                        f"{100 * 2 * gmac / i8 / vnni:.0f}%") if i8 else \
                    f"refused | {ti8 * 1e3:.2f} | - | -"
                print(f"| {name} | {batch} | {gmac:.2f} | {f32 * 1e3:.2f} | "
                      f"{tf32 * 1e3:.2f} | {tf32 / f32:.2f}x | "
                      f"{100 * 2 * gmac / f32 / fma:.0f}% | {int8} |",
                      flush=True)
    print("\n| network | ours fp32 library | ours int8 library | PyTorch "
          "fp32 state_dict | PyTorch int8 state_dict |")
    print("|---|---|---|---|---|")
    for name, (of, oi, tf, ti) in sizes.items():
        ours_int8 = f"{oi / 2**20:.1f} MiB" if oi else "-"
        print(f"| {name} | {of / 2**20:.1f} MiB | {ours_int8} | "
              f"{tf / 2**20:.1f} MiB | {ti / 2**20:.1f} MiB |")
    print("\n| network | batch | compile fp32 (s) | freeze + convert + "
          "compile int8 (s) |")
    print("|---|---|---|---|")
    for (name, batch), (cf, ci) in compiles.items():
        print(f"| {name} | {batch} | {cf:.1f} | "
              f"{f'{ci:.1f}' if ci else '-'} |")


if __name__ == "__main__":
    main()
