"""qat-build-train-step end to end: gradients of an instrumented network
against PyTorch golden values, of float networks against PyTorch autograd,
and training that lowers the loss."""

import os
import re

import numpy as np
import pytest

from reference import F32
from test_instrument import CNN, PARAM_SHAPES, make_inputs

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


def named_call(entry, values):
    """Calls `entry` with arguments looked up by name: "param:w1" as "w1",
    state such as "act_min:x" by its full name."""
    args = []
    for arg in entry.args:
        kind, _, name = arg.name.partition(":")
        key = name if kind in ("param", "qparam", "input") else arg.name
        args.append(values[key])
    out = entry(*args)
    out = out if isinstance(out, tuple) else (out,)
    return {r.name: v for r, v in zip(entry.results, out)}


def test_qat_gradients_match_pytorch_golden(qat_opt, compile_mlir):
    """scripts/gen_train_golden.py wrote PyTorch's loss and gradients of the
    same network with learnable fake-quants (LSQ scales)."""
    with open(os.path.join(GOLDEN, "qat_convnet.mlir")) as f:
        text = f.read()
    golden = dict(np.load(os.path.join(GOLDEN, "qat_convnet.npz")))
    model = compile_mlir(
        qat_opt(text, "--qat-instrument", "--qat-build-train-step"),
        name="qat_convnet")
    got = named_call(model.gradients, golden)
    np.testing.assert_allclose(got["loss"], golden["loss"], rtol=1e-5)
    trained = [r.name for r in model.gradients.results[1:]]
    assert sorted(trained) == sorted(k for k in golden if k.startswith(
        "grad:"))
    for name in trained:
        expected = golden[name]
        # Relative to each tensor's largest gradient: summation order is the
        # only difference between the two programs.
        tolerance = 1e-5 * float(np.abs(expected).max())
        np.testing.assert_allclose(got[name], expected, rtol=1e-4,
                                   atol=tolerance, err_msg=name)


def test_float_cnn_gradients_match_pytorch(qat_opt, compile_mlir):
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    model = compile_mlir(qat_opt(CNN, "--qat-build-train-step"), name="cnn_ad")
    image, params = make_inputs(0)
    labels = np.array([3, 7], np.int32)
    got = named_call(model.gradients, dict(params, image=image, labels=labels))

    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}

    def channel(v):
        return v[None, :, None, None]

    x = torch.tensor(image).permute(0, 3, 1, 2)
    c = functional.conv2d(x, p["w1"].permute(3, 2, 0, 1), padding=1)
    bn = ((c - channel(p["mean"])) / torch.sqrt(channel(p["var"]) + 1e-5) *
          channel(p["gamma"]) + channel(p["beta"]))
    mp = functional.max_pool2d(torch.relu(bn), 2)
    d = functional.conv2d(mp, p["dw"].permute(2, 0, 1)[:, None], padding=1,
                          groups=8) + channel(p["db"])
    d = torch.clamp(torch.clamp(d, max=6.0), min=0.0)
    q = functional.conv2d(d, p["pw"].permute(3, 2, 0, 1)) + channel(p["pb"])
    r = torch.relu(q + mp)
    y = (r.sum(dim=(2, 3)) * 0.0625) @ p["wf"] + p["bf"]
    loss = functional.cross_entropy(y, torch.tensor(labels).long())
    loss.backward()
    np.testing.assert_allclose(got["loss"], loss.item(), rtol=1e-5)
    for name in PARAM_SHAPES:
        np.testing.assert_allclose(got["grad:" + name], p[name].grad.numpy(),
                                   rtol=1e-4, atol=1e-6, err_msg=name)


def _padded_cnn_mlir():
    """conv3x3(1->16, pad 1) + bias + ReLU, 2x2 max pooling, conv3x3(16->32,
    pad 1) + bias + ReLU, 2x2 max pooling, linear 128->10, on a 2x8x8x1
    image first scaled by a trained per-channel factor (so that the first
    convolution's input gradient is needed too)."""
    def conv(i, x, size, cin, cout):
        t = f"tensor<2x{size}x{size}x{cout}xf32>"
        p = f"tensor<2x{size // 2}x{size // 2}x{cout}xf32>"
        return f"""
  %xp{i} = tensor.pad {x} low[0, 1, 1, 0] high[0, 1, 1, 0] {{
  ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
    tensor.yield %zero : f32
  }} : tensor<2x{size}x{size}x{cin}xf32> to tensor<2x{size + 2}x{size + 2}x{cin}xf32>
  %e{i} = tensor.empty() : {t}
  %z{i} = linalg.fill ins(%zero : f32) outs(%e{i} : {t}) -> {t}
  %c{i} = linalg.conv_2d_nhwc_hwcf {{dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}}
      ins(%xp{i}, %k{i} : tensor<2x{size + 2}x{size + 2}x{cin}xf32>, tensor<3x3x{cin}x{cout}xf32>) outs(%z{i} : {t}) -> {t}
  %r{i} = linalg.generic {{indexing_maps = [#id4, #ch4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}}
      ins(%c{i}, %kb{i} : {t}, tensor<{cout}xf32>) outs(%e{i} : {t}) {{
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    %m = arith.maximumf %s, %zero : f32
    linalg.yield %m : f32
  }} -> {t}
  %win{i} = tensor.empty() : tensor<2x2xf32>
  %ep{i} = tensor.empty() : {p}
  %mp{i} = linalg.fill ins(%ninf : f32) outs(%ep{i} : {p}) -> {p}
  %p{i} = linalg.pooling_nhwc_max {{dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}}
      ins(%r{i}, %win{i} : {t}, tensor<2x2xf32>) outs(%mp{i} : {p}) -> {p}"""

    return """
#id4 = affine_map<(n, h, w, c) -> (n, h, w, c)>
#ch4 = affine_map<(n, h, w, c) -> (c)>
#id2 = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>
func.func @net(%image: tensor<2x8x8x1xf32> {qat.name = "image", qat.role = "input"},
    %scale: tensor<1xf32> {qat.name = "scale"},
    %k0: tensor<3x3x1x16xf32> {qat.name = "k0"}, %kb0: tensor<16xf32> {qat.name = "kb0"},
    %k1: tensor<3x3x16x32xf32> {qat.name = "k1"}, %kb1: tensor<32xf32> {qat.name = "kb1"},
    %w: tensor<128x10xf32> {qat.name = "w"}, %wb: tensor<10xf32> {qat.name = "wb"}) -> tensor<2x10xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %ex = tensor.empty() : tensor<2x8x8x1xf32>
  %x = linalg.generic {indexing_maps = [#id4, #ch4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%image, %scale : tensor<2x8x8x1xf32>, tensor<1xf32>) outs(%ex : tensor<2x8x8x1xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<2x8x8x1xf32>""" + conv(0, "%x", 8, 1, 16) + \
        conv(1, "%p0", 4, 16, 32) + """
  %flat = tensor.collapse_shape %p1 [[0], [1, 2, 3]] : tensor<2x2x2x32xf32> into tensor<2x128xf32>
  %ey = tensor.empty() : tensor<2x10xf32>
  %zy = linalg.fill ins(%zero : f32) outs(%ey : tensor<2x10xf32>) -> tensor<2x10xf32>
  %y = linalg.matmul ins(%flat, %w : tensor<2x128xf32>, tensor<128x10xf32>) outs(%zy : tensor<2x10xf32>) -> tensor<2x10xf32>
  %out = linalg.generic {indexing_maps = [#id2, #col, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%y, %wb : tensor<2x10xf32>, tensor<10xf32>) outs(%ey : tensor<2x10xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<2x10xf32>
  return %out : tensor<2x10xf32>
}
"""


def test_padded_cnn_gradients_match_pytorch(qat_opt, compile_mlir):
    """Training's convolution path end to end against torch autograd: the
    gradients of zero-padded convolutions' inputs (computed only where the
    unpadded input is), 2x2 max pooling's gradient (to the first maximum,
    ties included), and the kernels that run them (implicit GEMM, narrow
    panels, dot products for the one-channel input)."""
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    model = compile_mlir(qat_opt(_padded_cnn_mlir(), "--qat-build-train-step"),
                         name="padded_cnn")
    rng = np.random.default_rng(5)
    shapes = {"scale": (1,), "k0": (3, 3, 1, 16), "kb0": (16,),
              "k1": (3, 3, 16, 32), "kb1": (32,), "w": (128, 10),
              "wb": (10,)}
    params = {k: (rng.standard_normal(s) * 0.3).astype(np.float32)
              for k, s in shapes.items()}
    params["scale"] = np.array([1.5], np.float32)
    image = rng.random((2, 8, 8, 1), dtype=np.float32)
    # Ties inside pooling windows: ReLU zeros, and one image of equal
    # pixels (every window of its first layer ties).
    image[1, :4, :4, 0] = 0.5
    labels = np.array([3, 7], np.int32)
    got = named_call(model.gradients, dict(params, image=image, labels=labels))

    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    x = torch.tensor(image).permute(0, 3, 1, 2) * p["scale"][None, :, None,
                                                            None]
    for i in range(2):
        x = functional.conv2d(x, p[f"k{i}"].permute(3, 2, 0, 1), padding=1)
        x = functional.max_pool2d(torch.relu(x + p[f"kb{i}"][None, :, None,
                                                             None]), 2)
    y = x.permute(0, 2, 3, 1).reshape(2, 128) @ p["w"] + p["wb"]
    loss = functional.cross_entropy(y, torch.tensor(labels).long())
    loss.backward()
    np.testing.assert_allclose(got["loss"], loss.item(), rtol=1e-5)
    for name in shapes:
        expected = p[name].grad.numpy()
        np.testing.assert_allclose(
            got["grad:" + name], expected, rtol=1e-4,
            atol=1e-5 * float(np.abs(expected).max()), err_msg=name)


GELU_MLP = """
#id = affine_map<(i, j) -> (i, j)>
func.func @net(%x: tensor<8x4xf32> {qat.name = "x", qat.role = "input"},
    %w1: tensor<4x6xf32> {qat.name = "w1"},
    %w2: tensor<6x3xf32> {qat.name = "w2"}) -> tensor<8x3xf32> {
  %zero = arith.constant 0.0 : f32
  %half = arith.constant 0.5 : f32
  %one = arith.constant 1.0 : f32
  %rsqrt2 = arith.constant 0.707106769 : f32
  %e1 = tensor.empty() : tensor<8x6xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<8x6xf32>) -> tensor<8x6xf32>
  %h = linalg.matmul ins(%x, %w1 : tensor<8x4xf32>, tensor<4x6xf32>) outs(%f1 : tensor<8x6xf32>) -> tensor<8x6xf32>
  %g = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%h : tensor<8x6xf32>) outs(%e1 : tensor<8x6xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.mulf %a, %rsqrt2 : f32
    %e = math.erf %s : f32
    %p = arith.addf %e, %one : f32
    %q = arith.mulf %p, %half : f32
    %r = arith.mulf %a, %q : f32
    linalg.yield %r : f32
  } -> tensor<8x6xf32>
  %e2 = tensor.empty() : tensor<8x3xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<8x3xf32>) -> tensor<8x3xf32>
  %y = linalg.matmul ins(%g, %w2 : tensor<8x6xf32>, tensor<6x3xf32>) outs(%f2 : tensor<8x3xf32>) -> tensor<8x3xf32>
  return %y : tensor<8x3xf32>
}
"""


def test_gelu_gradients_match_pytorch(qat_opt, compile_mlir):
    """GELU through Erf (transformers' feed-forward, as PyTorch exports it):
    d erf(x)/dx = 2/sqrt(pi) exp(-x^2), against torch autograd."""
    torch = pytest.importorskip("torch")
    model = compile_mlir(qat_opt(GELU_MLP, "--qat-build-train-step"),
                         name="gelu_mlp")
    rng = np.random.default_rng(8)
    params = {"w1": (rng.standard_normal((4, 6)) * 0.8).astype(np.float32),
              "w2": (rng.standard_normal((6, 3)) * 0.5).astype(np.float32)}
    x = rng.standard_normal((8, 4)).astype(np.float32)
    labels = rng.integers(0, 3, 8).astype(np.int32)
    got = named_call(model.gradients, dict(params, x=x, labels=labels))
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    y = torch.nn.functional.gelu(torch.tensor(x) @ p["w1"]) @ p["w2"]
    loss = torch.nn.functional.cross_entropy(y, torch.tensor(labels).long())
    loss.backward()
    np.testing.assert_allclose(got["loss"], loss.item(), rtol=1e-5)
    for name in params:
        np.testing.assert_allclose(got["grad:" + name], p[name].grad.numpy(),
                                   rtol=1e-4, atol=1e-6, err_msg=name)


MLP = """
#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>
func.func @mlp(%x: tensor<64x8xf32> {qat.name = "x"}, %w1: tensor<8x16xf32> {qat.name = "w1"},
    %b1: tensor<16xf32> {qat.name = "b1"}, %w2: tensor<16x3xf32> {qat.name = "w2"},
    %b2: tensor<3xf32> {qat.name = "b2"}) -> (tensor<64x3xf32> {qat.name = "logits"}) {
  %zero = arith.constant 0.0 : f32
  %e1 = tensor.empty() : tensor<64x16xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<64x16xf32>) -> tensor<64x16xf32>
  %h = linalg.matmul ins(%x, %w1 : tensor<64x8xf32>, tensor<8x16xf32>) outs(%f1 : tensor<64x16xf32>) -> tensor<64x16xf32>
  %hr = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%h, %b1 : tensor<64x16xf32>, tensor<16xf32>) outs(%e1 : tensor<64x16xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    %r = arith.maximumf %s, %zero : f32
    linalg.yield %r : f32
  } -> tensor<64x16xf32>
  %e2 = tensor.empty() : tensor<64x3xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<64x3xf32>) -> tensor<64x3xf32>
  %y = linalg.matmul ins(%hr, %w2 : tensor<64x16xf32>, tensor<16x3xf32>) outs(%f2 : tensor<64x3xf32>) -> tensor<64x3xf32>
  %yb = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%y, %b2 : tensor<64x3xf32>, tensor<3xf32>) outs(%e2 : tensor<64x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<64x3xf32>
  return %yb : tensor<64x3xf32>
}
"""


def separable_data(rng, n=64):
    """Three Gaussian blobs in 8 dimensions, labels 0..2."""
    centers = rng.standard_normal((3, 8)).astype(F32) * 2
    labels = rng.integers(0, 3, n).astype(np.int32)
    x = centers[labels] + rng.standard_normal((n, 8)).astype(F32) * 0.5
    return x.astype(F32), labels


def init_mlp(rng):
    return {"w1": (rng.standard_normal((8, 16)) * 0.3).astype(F32),
            "b1": np.zeros(16, F32),
            "w2": (rng.standard_normal((16, 3)) * 0.3).astype(F32),
            "b2": np.zeros(3, F32)}


def train(model, values, batches, lr, first_step=1):
    """Runs train_step over `batches` (steps numbered from `first_step`);
    returns the losses."""
    step = model.train_step
    for arg in step.args:
        if arg.name.split(":")[0] in ("momentum", "adam_m", "adam_v"):
            values.setdefault(arg.name, np.zeros(arg.shape, F32))
    losses = []
    for i, (x, labels) in enumerate(batches):
        args = []
        for arg in step.args:
            kind, _, key = arg.name.partition(":")
            if arg.name == "lr":
                args.append(F32(lr))
            elif arg.name == "step":
                args.append(F32(first_step + i))
            elif arg.name == "labels":
                args.append(labels)
            elif kind == "input":
                args.append(x)
            elif kind in ("param", "qparam"):
                args.append(values[key])
            else:
                args.append(values[arg.name])
        out = step(*args)
        for result, value in zip(step.results, out):
            kind, _, key = result.name.partition(":")
            if kind in ("param", "qparam"):
                values[key] = value
            elif result.name == "loss":
                losses.append(float(value))
            else:
                values[result.name] = value
    return losses


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.1), ("adam", 0.01)])
def test_training_lowers_the_loss(qat_opt, compile_mlir, optimizer, lr):
    model = compile_mlir(
        qat_opt(MLP, f"--qat-build-train-step=optimizer={optimizer}"),
        name=f"mlp_{optimizer}")
    rng = np.random.default_rng(5)
    x, labels = separable_data(rng)
    values = init_mlp(rng)
    losses = train(model, values, [(x, labels)] * 60, lr)
    assert losses[-1] < losses[0] / 5, losses[::10]
    # The trained parameters classify the training set.
    _, logits = model.eval_step(*[values[k] for k in ("w1", "b1", "w2", "b2")],
                                x, labels)
    assert (logits.argmax(axis=1) == labels).mean() > 0.95


def test_qat_training_lowers_the_loss_and_learns_scales(qat_opt,
                                                        compile_mlir):
    text = qat_opt(MLP, "--qat-instrument", "--qat-build-train-step")
    model = compile_mlir(text, name="mlp_qat")
    rng = np.random.default_rng(6)
    x, labels = separable_data(rng)
    values = init_mlp(rng)
    init = model.mlp_init_qparams
    out = init(*[dict(values, x=x)[a.name] for a in init.args])
    initial = {r.name: v for r, v in zip(init.results, out)}
    values.update(initial)
    losses = train(model, values, [(x, labels)] * 60, 0.05)
    assert losses[-1] < losses[0] / 5, losses[::10]
    moved = [k for k in initial if k.endswith("_scale")
             and not np.array_equal(values[k], initial[k])]
    assert moved, "LSQ did not update any scale"
    assert all((np.asarray(values[k]) > 0).all() for k in moved)


def test_ema_observers_follow_pytorch_moving_average(qat_opt, compile_mlir):
    """range-learning=ema: the input's observer is MovingAverageMinMaxObserver
    (first batch taken as is, then min += 0.01 * (batch_min - min)), frozen
    after freeze-observers-after steps; @calibrate keeps running min/max of
    the float network."""
    text = qat_opt(MLP, "--qat-instrument", "--qat-build-train-step="
                   "range-learning=ema freeze-observers-after=2")
    model = compile_mlir(text, name="mlp_ema")
    rng = np.random.default_rng(7)
    values = init_mlp(rng)
    batches = [separable_data(rng) for _ in range(3)]

    # Calibration: running min/max of x and of the hidden layer (float).
    calibrate = model.calibrate
    state = {a.name: np.float32(np.inf if "min" in a.name else -np.inf)
             for a in calibrate.args if a.name.startswith("act_")}
    hidden = []
    for x, _ in batches:
        out = named_call(calibrate, dict(values, **state, x=x))
        state.update(out)
        hidden.append(np.maximum(x @ values["w1"] + values["b1"], 0))
    xs = np.concatenate([x for x, _ in batches])
    assert state["act_min:x"] == xs.min() and state["act_max:x"] == xs.max()
    hs = np.concatenate(hidden)
    np.testing.assert_allclose(state["act_max:matmul_0"], hs.max(), rtol=1e-6)
    assert state["act_min:matmul_0"] == 0.0  # after ReLU

    # Training: the input's observer is exact to check.
    for arg in model.train_step.args:
        if arg.name.startswith("act_"):
            values[arg.name] = np.float32(np.inf if "min" in arg.name
                                          else -np.inf)
    expected_min = None
    for i, (x, labels) in enumerate(batches):
        train(model, values, [(x, labels)], 0.05, first_step=i + 1)
        if i == 0:
            expected_min = x.min()
        elif i + 1 <= 2:
            expected_min = np.float32(expected_min + np.float32(0.01) *
                                      (x.min() - expected_min))
        # Step 3 > freeze-observers-after: unchanged.
        np.testing.assert_allclose(values["act_min:x"], expected_min,
                                   rtol=1e-6)


def test_ema_training_lowers_the_loss(qat_opt, compile_mlir):
    text = qat_opt(MLP, "--qat-instrument",
                   "--qat-build-train-step=range-learning=ema")
    model = compile_mlir(text, name="mlp_ema_train")
    rng = np.random.default_rng(8)
    x, labels = separable_data(rng)
    values = init_mlp(rng)
    for arg in model.train_step.args:
        if arg.name.startswith("act_"):
            values[arg.name] = np.float32(np.inf if "min" in arg.name
                                          else -np.inf)
    losses = train(model, values, [(x, labels)] * 60, 0.1)
    assert losses[-1] < losses[0] / 5, losses[::10]


def test_freeze_after_ema_training_reproduces_eval(qat_opt, compile_mlir,
                                                   tmp_path):
    """@qparams turns trained observers into the forward's scales and zero
    points; qat-freeze makes them (and the trained weights) constants; the
    frozen forward then computes exactly what @eval_step computed."""
    import json
    instrumented = qat_opt(MLP, "--qat-instrument")
    model = compile_mlir(qat_opt(instrumented,
                                 "--qat-build-train-step=range-learning=ema"),
                         name="mlp_freeze")
    rng = np.random.default_rng(9)
    x, labels = separable_data(rng)
    values = init_mlp(rng)
    for arg in model.train_step.args:
        if arg.name.startswith("act_"):
            values[arg.name] = np.float32(np.inf if "min" in arg.name
                                          else -np.inf)
    train(model, values, [(x, labels)] * 5, 0.05)
    qparams = named_call(model.qparams, values)
    evaluated = named_call(model.eval_step, dict(values, x=x,
                                                 labels=labels))
    frozen_values = {k: np.asarray(v).tolist() for k, v in qparams.items()}
    frozen_values.update({"param:" + k: values[k].tolist()
                          for k in ("w1", "b1", "w2", "b2")})
    path = tmp_path / "values.json"
    path.write_text(json.dumps(frozen_values))
    frozen = qat_opt(instrumented, f"--qat-freeze=values={path} function=mlp")
    assert "qat.frozen" in frozen
    forward = compile_mlir(frozen, name="mlp_frozen").mlp
    assert [a.name for a in forward.args] == ["x"]
    np.testing.assert_array_equal(forward(x), evaluated["output:logits"])


def test_lsq_scales_initialised_from_calibration(qat_opt, compile_mlir):
    """With LSQ, @calibrate over several batches and @qparams give the
    initial scales: activations from the running min/max, weights from
    their own min/max (numpy's choose_qparams)."""
    from reference import choose_qparams
    model = compile_mlir(qat_opt(MLP, "--qat-instrument",
                                 "--qat-build-train-step"), name="mlp_lsq_cal")
    rng = np.random.default_rng(10)
    values = init_mlp(rng)
    state = {a.name: np.float32(np.inf if "min" in a.name else -np.inf)
             for a in model.calibrate.args if a.name.startswith("act_")}
    batches = [separable_data(rng)[0] for _ in range(3)]
    for x in batches:
        state.update(named_call(model.calibrate, dict(values, **state, x=x)))
    qparams = named_call(model.qparams, dict(values, **state))
    xs = np.concatenate(batches)
    scale, zero = choose_qparams(xs.min(), xs.max(), 8, False)
    np.testing.assert_allclose(qparams["x.act_scale"], scale, rtol=1e-6)
    assert qparams["x.act_zero_point"] == zero
    w_scale, _ = choose_qparams(values["w1"].min(axis=0),
                                values["w1"].max(axis=0), 8, True,
                                narrow=True, symmetric=True)
    np.testing.assert_allclose(qparams["matmul_0.weight_scale"], w_scale,
                               rtol=1e-6)
    # They are the train step's scale arguments.
    assert {"qparam:" + k for k in qparams} <= {
        a.name for a in model.train_step.args}


def test_threads_do_not_change_a_bit(qat_opt, compile_mlir):
    """The CNN's gradients (batch 64) with ops split across threads
    (qat-parallelize-loops, matmul strips) equal the single-threaded ones."""
    # Batch 2 -> 64 (the 2x2 pooling window stays).
    batch64 = re.sub(r"tensor<2x(?=\d)", "tensor<64x",
                     CNN.replace("tensor<2x2xf32>", "WINDOW"))
    text = qat_opt(batch64.replace("WINDOW", "tensor<2x2xf32>"),
                   "--qat-build-train-step")
    assert "scf.forall" in qat_opt(text, "--qat-parallelize-loops")
    parallel = compile_mlir(text, name="cnn_par").gradients
    serial = compile_mlir(text, name="cnn_ser",
                          flags=["--parallel=false"]).gradients
    rng = np.random.default_rng(11)
    args = [rng.integers(0, 10, a.shape).astype(np.int32)
            if a.dtype == np.int32 else
            (rng.standard_normal(a.shape) * 0.5).astype(F32)
            for a in parallel.args]
    for a, b, result in zip(parallel(*args), serial(*args), parallel.results):
        np.testing.assert_array_equal(a, b, err_msg=result.name)


@pytest.mark.parametrize("temperature,weight", [(4.0, 0.5), (1.0, 1.0),
                                                (2.0, 0.0)])
def test_distillation_loss_and_gradients_match_pytorch(qat_opt, compile_mlir,
                                                       tmp_path, temperature,
                                                       weight):
    """teacher=: a frozen MLP's logits are the soft targets inlined into the
    step; the loss (1 - w) CE + w T^2 KL(softmax(t / T) || softmax(s / T))
    and every gradient against PyTorch autograd (F.kl_div, batchmean)."""
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    rng = np.random.default_rng(11)
    x, labels = separable_data(rng)
    teacher_values = init_mlp(rng)
    teacher_values["b2"] = (rng.standard_normal(3) * 0.5).astype(F32)
    np.savez(tmp_path / "teacher.npz", **teacher_values)
    teacher = tmp_path / "teacher.mlir"
    teacher.write_text(qat_opt(MLP, f"--qat-freeze=values={tmp_path}/"
                                    "teacher.npz function=mlp"))
    model = compile_mlir(qat_opt(MLP, "--qat-build-train-step="
                                 f"teacher={teacher} distill-temperature="
                                 f"{temperature} distill-weight={weight}"),
                         name=f"mlp_distill_{int(temperature)}_"
                              f"{int(10 * weight)}")
    values = init_mlp(rng)
    got = named_call(model.gradients, dict(values, x=x, labels=labels))

    def forward(p, xt):
        h = torch.relu(xt @ p["w1"] + p["b1"])
        return h @ p["w2"] + p["b2"]

    p = {k: torch.tensor(v, requires_grad=True) for k, v in values.items()}
    xt = torch.tensor(x)
    with torch.no_grad():
        t = forward({k: torch.tensor(v) for k, v in teacher_values.items()},
                    xt)
    s = forward(p, xt)
    hard = functional.cross_entropy(s, torch.tensor(labels, dtype=torch.long))
    soft = functional.kl_div(functional.log_softmax(s / temperature, 1),
                             functional.softmax(t / temperature, 1),
                             reduction="batchmean")
    loss = (1 - weight) * hard + weight * temperature ** 2 * soft
    loss.backward()
    np.testing.assert_allclose(got["loss"], loss.item(), rtol=1e-5)
    for name, tensor in p.items():
        expected = tensor.grad.numpy()
        np.testing.assert_allclose(got[f"grad:{name}"], expected, rtol=1e-4,
                                   atol=1e-6 * float(np.abs(expected).max()),
                                   err_msg=name)
