#!/usr/bin/env python3
"""torchvision's classification models end to end through qat-mlir.

    model_zoo.py resnet18 mobilenet_v2        # these models
    model_zoo.py --all                        # every torchvision 0.14 model
    model_zoo.py --quick resnet18             # import + float check only

For each model: random weights (seeded), batch-norm statistics estimated on
data (Fashion-MNIST images at 224 x 224, three channels), exported to ONNX
at opset 13; then qat-import, the float program compiled and compared with
PyTorch, instrumented at int8, calibrated, a few QAT steps, frozen,
converted to integers, compiled, and the integer logits compared with the
float ones (cosine similarity). Prints one row per model (stage reached,
cosines, times, sizes) as a Markdown table.
"""

import argparse
import copy
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from qat import pipeline, workflow  # noqa: E402
from qat.data import Split  # noqa: E402
from qat.onnx_import import import_onnx  # noqa: E402

#: torchvision 0.14's classification models (torchvision.models.list_models
#: arrived in 0.15).
ALL = [
    "alexnet", "convnext_tiny", "densenet121", "efficientnet_b0",
    "efficientnet_v2_s", "googlenet", "inception_v3", "mnasnet0_5",
    "mnasnet1_0", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
    "regnet_x_400mf", "regnet_y_400mf", "resnet18", "resnet50",
    "resnext50_32x4d", "shufflenet_v2_x1_0", "squeezenet1_0",
    "squeezenet1_1", "vgg11", "vit_b_16", "wide_resnet50_2", "swin_t",
]


def images(n, size=224, seed=0):
    """n Fashion-MNIST images at size x size, three channels, normalized
    (random ones if the dataset is missing), and their labels."""
    from qat import data
    try:
        split = data.fashion_mnist("train", limit=n)
        x = split.x.reshape(-1, 1, 28, 28)
        y = split.y
    except Exception:  # noqa: BLE001 - any missing dataset
        rng = np.random.default_rng(seed)
        x = rng.random((n, 1, 28, 28), dtype=np.float32)
        y = rng.integers(0, 10, n)
    import torch
    t = torch.nn.functional.interpolate(torch.tensor(x), size=(size, size),
                                        mode="bilinear", align_corners=False)
    t = (t.repeat(1, 3, 1, 1) - 0.3) / 0.35
    return t.numpy().astype(np.float32), np.asarray(y, np.int32)


#: Small transformers built from torchvision's own classes (the zoo's
#: vit_b_16 has 86M parameters): name -> VisionTransformer arguments.
SMALL = {
    "vit_tiny": dict(patch_size=16, num_layers=2, num_heads=4,
                     hidden_dim=64, mlp_dim=128),
}


def build(name, x, size):
    """The torchvision model with batch-norm statistics estimated on x."""
    import torch
    import torchvision
    torch.manual_seed(0)
    if name in SMALL:
        from torchvision.models.vision_transformer import VisionTransformer
        model = VisionTransformer(image_size=size, num_classes=10,
                                  **SMALL[name])
        # torchvision starts the head at zero (all logits 0): random instead.
        torch.nn.init.xavier_uniform_(model.heads.head.weight)
        return model.eval()
    kwargs = {"aux_logits": False, "init_weights": True} if name in (
        "googlenet", "inception_v3") else {}
    model = getattr(torchvision.models, name)(**kwargs)
    norms = [m for m in model.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if norms:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average
        model.train()
        with torch.no_grad():
            for i in range(0, len(x), 8):
                model(torch.tensor(x[i:i + 8]))
    model.eval()
    return model


def fx_int8(net, example, chunk=64):
    """PyTorch's FX static int8 of `net` (prepare_fx / convert_fx, the x86
    qconfig), its ranges from `example`, observed `chunk` images at a time
    (all 1,000 of ResNet-50's at once held 21 GB): the peer every int8
    number is set beside."""
    import warnings

    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_fx(net, get_default_qconfig_mapping("x86"),
                              example_inputs=(example[:chunk],))
        for i in range(0, len(example), chunk):
            prepared(example[i:i + chunk])
        return convert_fx(prepared)


def peak_resident_mb():
    """This process's peak resident memory so far (VmHWM), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def noise_floor(net, x, bits=8, seed=0):
    """The float network's own sensitivity: the cosine of its logits on `x`
    to the logits when every convolution and linear layer's output gets
    Gaussian noise as large as rounding it to a `bits`-bit grid over its own
    range (standard deviation step / sqrt(12), step = (max - min) /
    (2^bits - 1)). It is what rounding the layer outputs alone costs, with
    ideal per-tensor ranges and no weight error. A network far below 0.99
    here amplifies small perturbations (random weights can make it so), and
    an 8-bit program of it will not reach 0.99 either: the int8 cosine is
    to be read against this number and against PyTorch's."""
    import torch
    generator = torch.Generator().manual_seed(seed)

    def perturb(module, inputs, out):
        step = (out.max() - out.min()) / (2 ** bits - 1)
        noise = torch.randn(out.shape, generator=generator)
        return out + noise * step / 12 ** 0.5

    layers = [m for m in net.modules()
              if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    hooks = [m.register_forward_hook(perturb) for m in layers]
    try:
        with torch.no_grad():
            noisy = net(torch.tensor(x)).numpy()
    finally:
        for hook in hooks:
            hook.remove()
    with torch.no_grad():
        return cosine(noisy, net(torch.tensor(x)).numpy())


def cosine(a, b):
    a, b = a.reshape(-1).astype(np.float64), b.reshape(-1).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def run(name, batch, workdir, row, steps=2, calibration=32, size=224,
        quick=False, evaluate=8):
    """Every stage on one model, recorded in `row` (the stage reached and
    the numbers) as it goes. The int8 cosines are over the logits of the
    first `evaluate` images (at least one batch)."""
    import torch
    row.update(model=name, stage="start")
    t0 = time.time()
    evaluate = max(evaluate, batch)
    x, y = images(max(calibration, 2 * batch, evaluate), size)
    net = build(name, x[:32], size)
    path = os.path.join(workdir, f"{name}.onnx")
    torch.onnx.export(net, torch.tensor(x[:batch]), path,
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}}, opset_version=13)
    with torch.no_grad():
        reference = net(torch.tensor(x[:batch])).numpy()
    row["export_s"] = time.time() - t0

    t = time.time()
    imported = import_onnx(path, batch=batch, name="net")
    row["import_s"] = time.time() - t
    row["params_M"] = sum(v.size for v in imported.params.values()) / 1e6
    row["stage"] = "import"

    t = time.time()
    float_model = pipeline.load(imported.text, workdir, f"{name}_fp32")
    row["compile_fp32_s"] = time.time() - t
    entry = float_model["net"]
    values = dict(imported.params)
    got = workflow.predict(entry, values, x[:batch])
    row["cos_fp32"] = cosine(got, reference)
    row["stage"] = "float"
    if quick:
        float_model.close()
        return

    t = time.time()
    text = workflow.instrument(imported.text)
    calibrator = workflow.Trainer(text, values, workdir, f"{name}_calib",
                                  range_learning="none",
                                  functions=("calibrate", "qparams"))
    qparams = calibrator.calibrate(x[:calibration],
                                   max_batches=calibration // batch)
    row["calibrate_s"] = time.time() - t
    row["collapsed"] = len(workflow.collapsed_ranges(qparams))
    values.update(qparams)
    row["stage"] = "calibrate"

    t = time.time()
    trainer = workflow.Trainer(text, values, workdir, f"{name}_train")
    row["compile_train_s"] = time.time() - t
    t = time.time()
    trainer.fit(Split(x[:batch * steps], y[:batch * steps]), epochs=1,
                lr=1e-4, progress=False, log_every=1)
    row["train_s"] = time.time() - t
    row["stage"] = "train"

    t = time.time()
    frozen = workflow.freeze(text, trainer.values, "net")
    with open(os.path.join(workdir, f"{name}.frozen.mlir"), "w") as f:
        f.write(frozen)  # for `python3 -m qat check`
    integer = workflow.convert(frozen)
    int_model = pipeline.load(integer, workdir, f"{name}_int8")
    row["deploy_s"] = time.time() - t
    # The trained network in float, its QAT simulation (the frozen
    # program), and the deployed integers.
    trained_float = workflow.predict(float_model["net"], trainer.values,
                                     x[:evaluate])
    sim_model = pipeline.load(frozen, workdir, f"{name}_sim")
    simulated = workflow.predict(sim_model["net"], {}, x[:evaluate])
    got_int = workflow.predict(int_model["net"], {}, x[:evaluate])
    row["cos_int8"] = cosine(got_int, trained_float)
    row["cos_int8_sim"] = cosine(got_int, simulated)
    sim_model.close()
    # The faithful simulation (qat-faithful: each layer's integer result,
    # the weights still trainable) computes exactly what deploys.
    qparams, params = workflow.split_qparams(trainer.values)
    faithful = pipeline.load(
        workflow.faithful(workflow.freeze(text, qparams, "net")), workdir,
        f"{name}_faithful")
    got_faithful = workflow.predict(faithful["net"], params, x[:evaluate])
    row["faithful_diff"] = int(np.sum(got_faithful != got_int))
    faithful.close()
    # Everything of ours has run: the process's peak so far (PyTorch's
    # model and export included, its FX peer not yet).
    row["peak_MB"] = peak_resident_mb()
    # The peer and the floor, on the same images: PyTorch's FX int8
    # calibrated on the same images as ours, and the float network's own
    # sensitivity to 8-bit rounding noise.
    with torch.no_grad():
        torch_float = net(torch.tensor(x[:evaluate])).numpy()
        try:
            fx = fx_int8(copy.deepcopy(net), torch.tensor(x[:calibration]))
            row["cos_fx_int8"] = cosine(
                fx(torch.tensor(x[:evaluate])).numpy(), torch_float)
        except Exception:  # noqa: BLE001 - FX cannot trace every model
            row["cos_fx_int8"] = float("nan")  # (ViT: torch.fx fails)
    row["cos_noise_floor"] = noise_floor(net, x[:evaluate])
    row["lib_fp32_KiB"] = os.path.getsize(float_model.path) / 1024
    row["lib_int8_KiB"] = os.path.getsize(int_model.path) / 1024
    row["stage"] = "deployed"
    float_model.close()
    int_model.close()


COLUMNS = ["model", "stage", "params_M", "import_s", "compile_fp32_s",
           "cos_fp32", "calibrate_s", "collapsed", "compile_train_s",
           "train_s", "deploy_s", "cos_int8", "cos_int8_sim", "cos_fx_int8",
           "cos_noise_floor", "faithful_diff", "peak_MB",
           "lib_fp32_KiB",
           "lib_int8_KiB",
           "error"]


def table(rows):
    lines = ["| " + " | ".join(COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = []
        for c in COLUMNS:
            v = r.get(c, "")
            cells.append(f"{v:.4f}" if c.startswith("cos") and v != "" else
                         f"{v:.1f}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*")
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--workdir")
    parser.add_argument("--quick", action="store_true",
                        help="import and the float program only")
    parser.add_argument("--size", type=int, default=224,
                        help="image height and width")
    parser.add_argument("--calibration", type=int, default=32,
                        help="calibration images")
    parser.add_argument("--evaluate", type=int, default=8,
                        help="images the int8 cosines are measured on")
    args = parser.parse_args()
    names = ALL if args.all else args.models
    rows = []
    with tempfile.TemporaryDirectory(prefix="qat-zoo-") as scratch:
        for name in names:
            row = {}
            try:
                run(name, args.batch, args.workdir or scratch, row,
                    args.steps, calibration=args.calibration,
                    size=args.size, quick=args.quick,
                    evaluate=args.evaluate)
            except Exception as err:  # noqa: BLE001 - reported per model
                row["error"] = str(err).splitlines()[0][:160]
            rows.append(row)
            print(table([row]).splitlines()[-1], flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
