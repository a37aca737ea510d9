"""qat-convert-to-integer on a frozen QAT MLP, compiled: the integer program
against the float simulation it came from (the fast float mode: within one
step of the output scale) and against a numpy integer program written from
docs/Semantics.md (exact)."""

import json
import re

import numpy as np
import pytest

from reference import F32, choose_qparams, quant_range
from test_training import MLP, init_mlp, separable_data


def quantize(x, scale, zero, lo, hi):
    """quantmath::quantize: one binary32 division, ties to even, clamped."""
    return np.clip(np.rint(np.asarray(x, F32) / F32(scale)) + zero, lo,
                   hi).astype(np.int64)


def quantized_model(qat_opt, compile_mlir, text, entry, scale, options="",
                    seed=0, x_scale=2.0, x_shift=-0.5, name="model"):
    """`text` instrumented (with `options`), random values for its float
    parameters (biases too), an input `x`, and the scales and zero points
    the generated initialiser picks on them."""
    flag = "--qat-instrument" + (f"={options}" if options else "")
    instrumented = qat_opt(text, flag)
    model = compile_mlir(instrumented, name=f"{name}_qat")
    rng = np.random.default_rng(seed)
    forward = model[entry]
    values = {a.name: (rng.standard_normal(a.shape) * scale).astype(F32)
              for a in forward.args
              if a.name != "x" and a.dtype == np.float32 and
              not a.name.endswith(("_scale", "_zero_point"))}
    shape = next(a.shape for a in forward.args if a.name == "x")
    x = (rng.random(shape, dtype=F32) * x_scale + x_shift).astype(F32)
    init = model[f"{entry}_init_qparams"]
    qparams = dict(zip((r.name for r in init.results),
                       init(*[dict(values, x=x)[a.name] for a in init.args])))
    return instrumented, values, qparams, x


def freeze_values(qat_opt, text, values, function, path):
    """qat-freeze with `values` (written to the JSON file `path`)."""
    path.write_text(json.dumps({k: np.asarray(v).tolist()
                                for k, v in values.items()}))
    return qat_opt(text, f"--qat-freeze=values={path} function={function}")


def assert_within_one_step(simulated, deployed, step, name):
    """The fast simulation's contract: at most one output step apart."""
    steps = np.abs(deployed - simulated) / step
    print(f"{name}: max {steps.max():.3f} steps, "
          f"{(steps > 0.5).mean():.3f} of outputs differ")
    assert steps.max() <= 1.0 + 1e-4, steps.max()
    assert (steps > 0.5).mean() < 0.2


def frozen_mlp(qat_opt, tmp_path, rng):
    instrumented = qat_opt(MLP, "--qat-instrument")
    values = init_mlp(rng)
    values["b1"] = (rng.standard_normal(16) * 0.1).astype(F32)
    values["b2"] = (rng.standard_normal(3) * 0.1).astype(F32)
    x, _ = separable_data(rng)
    # Scales from the float network's ranges (numpy's choose_qparams).
    h = np.maximum(x @ values["w1"] + values["b1"], 0)
    y = h @ values["w2"] + values["b2"]
    q = {}
    for name, t in [("x", x), ("matmul_0", h), ("matmul_1", y)]:
        s, z = choose_qparams(t.min(), t.max(), 8, False)
        q[f"{name}.act_scale"], q[f"{name}.act_zero_point"] = float(s), int(z)
    for name, w in [("matmul_0", values["w1"]), ("matmul_1", values["w2"])]:
        s, _ = choose_qparams(w.min(axis=0), w.max(axis=0), 8, True,
                              narrow=True, symmetric=True)
        q[f"{name}.weight_scale"] = s.tolist()
    frozen_values = dict(q, **{k: v.tolist() for k, v in values.items()})
    path = tmp_path / "values.json"
    path.write_text(json.dumps(frozen_values))
    frozen = qat_opt(instrumented, f"--qat-freeze=values={path} function=mlp")
    return frozen, values, q, x


def test_integer_mlp_matches_simulation_and_numpy(qat_opt, compile_mlir,
                                                  tmp_path):
    rng = np.random.default_rng(12)
    frozen, values, q, x = frozen_mlp(qat_opt, tmp_path, rng)
    integer = qat_opt(frozen, "--qat-convert-to-integer")
    assert "qat.fake_quant" not in integer.split("func.func @mlp_init")[0]
    assert "tensor<64x8xi8>" in integer and "qat.requantize" in integer
    simulated = compile_mlir(frozen, name="mlp_sim").mlp(x)
    deployed = compile_mlir(integer, name="mlp_int").mlp(x)

    # Fast float mode: at most one output step apart, on few elements.
    step = q["matmul_1.act_scale"]
    steps = np.abs(deployed - simulated) / step
    print(f"MLP: max {steps.max():.3f} steps, {(steps > 0.5).mean():.3f} "
          "of outputs differ")
    assert steps.max() <= 1.0 + 1e-4, steps.max()
    assert (steps > 0.5).mean() < 0.1
    assert (deployed.argmax(1) == simulated.argmax(1)).mean() >= 0.95

    # numpy integer program: u8 codes shifted to s8, int32 accumulation with
    # the bias and zero-point term, rescale to the next codes, clamps.
    lo, hi = quant_range(8, False)
    codes = quantize(x, q["x.act_scale"], q["x.act_zero_point"], lo, hi) - 128
    z_in = q["x.act_zero_point"] - 128
    s_in = q["x.act_scale"]
    for layer, w, b, relu in [("matmul_0", values["w1"], values["b1"], True),
                              ("matmul_1", values["w2"], values["b2"], False)]:
        s_w = np.asarray(q[f"{layer}.weight_scale"], F32)
        wq = np.clip(np.rint(w / s_w), -127, 127).astype(np.int64)
        bias = np.clip(np.rint(b / (F32(s_in) * s_w)), -2**31, 2**31 - 1)
        acc = (codes - z_in) @ wq + bias.astype(np.int64)
        s_out, z_out = q[f"{layer}.act_scale"], q[f"{layer}.act_zero_point"]
        real = acc * (np.float64(F32(s_in)) * s_w.astype(np.float64) /
                      np.float64(F32(s_out)))
        out = np.rint(real) + z_out
        out = np.clip(out, z_out if relu else lo, hi).astype(np.int64) - 128
        codes, z_in, s_in = out, z_out - 128, s_out
    expected = ((codes - z_in) * F32(s_in)).astype(F32)
    # The fixed-point multiplier is exact to 2^-31 relative: ties may round
    # differently from the binary64 product, nothing else.
    assert np.abs(deployed - expected).max() <= F32(s_in) * 1.0001
    assert (deployed != expected).mean() < 0.01


def conv_block(i, x, size, cin, cout, batch):
    """pad 1 -> conv3x3 -> bias + ReLU -> 2x2 max pool, NHWC/HWCF."""
    t = f"tensor<{batch}x{size}x{size}x{cout}xf32>"
    h = size // 2
    return f"""
  %xp{i} = tensor.pad {x} low[0, 1, 1, 0] high[0, 1, 1, 0] {{
  ^bb0(%a{i}: index, %b{i}: index, %c{i}: index, %d{i}: index):
    tensor.yield %zero : f32
  }} : tensor<{batch}x{size}x{size}x{cin}xf32> to tensor<{batch}x{size + 2}x{size + 2}x{cin}xf32>
  %e{i} = tensor.empty() : {t}
  %f{i} = linalg.fill ins(%zero : f32) outs(%e{i} : {t}) -> {t}
  %c{i} = linalg.conv_2d_nhwc_hwcf {{dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}}
      ins(%xp{i}, %k{i} : tensor<{batch}x{size + 2}x{size + 2}x{cin}xf32>, tensor<3x3x{cin}x{cout}xf32>) outs(%f{i} : {t}) -> {t}
  %r{i} = linalg.generic {{indexing_maps = [affine_map<(n, h, w, c) -> (n, h, w, c)>, affine_map<(n, h, w, c) -> (c)>, affine_map<(n, h, w, c) -> (n, h, w, c)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}}
      ins(%c{i}, %kb{i} : {t}, tensor<{cout}xf32>) outs(%e{i} : {t}) {{
  ^bb0(%v: f32, %bb: f32, %o: f32):
    %s = arith.addf %v, %bb : f32
    %m = arith.maximumf %s, %zero : f32
    linalg.yield %m : f32
  }} -> {t}
  %win{i} = tensor.empty() : tensor<2x2xf32>
  %ep{i} = tensor.empty() : tensor<{batch}x{h}x{h}x{cout}xf32>
  %fp{i} = linalg.fill ins(%ninf : f32) outs(%ep{i} : tensor<{batch}x{h}x{h}x{cout}xf32>) -> tensor<{batch}x{h}x{h}x{cout}xf32>
  %p{i} = linalg.pooling_nhwc_max {{dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}}
      ins(%r{i}, %win{i} : {t}, tensor<2x2xf32>) outs(%fp{i} : tensor<{batch}x{h}x{h}x{cout}xf32>) -> tensor<{batch}x{h}x{h}x{cout}xf32>"""


def cnn_text(batch=4):
    return f"""
func.func @cnn(%x: tensor<{batch}x8x8x1xf32> {{qat.name = "x"}},
    %k0: tensor<3x3x1x4xf32> {{qat.name = "k0"}}, %kb0: tensor<4xf32> {{qat.name = "kb0"}},
    %k1: tensor<3x3x4x8xf32> {{qat.name = "k1"}}, %kb1: tensor<8xf32> {{qat.name = "kb1"}},
    %w: tensor<32x5xf32> {{qat.name = "w"}}, %wb: tensor<5xf32> {{qat.name = "wb"}})
    -> (tensor<{batch}x5xf32> {{qat.name = "logits"}}) {{
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32""" + conv_block(
        0, "%x", 8, 1, 4, batch) + conv_block(1, "%p0", 4, 4, 8, batch) + f"""
  %flat = tensor.collapse_shape %p1 [[0], [1, 2, 3]] : tensor<{batch}x2x2x8xf32> into tensor<{batch}x32xf32>
  %ey = tensor.empty() : tensor<{batch}x5xf32>
  %fy = linalg.fill ins(%zero : f32) outs(%ey : tensor<{batch}x5xf32>) -> tensor<{batch}x5xf32>
  %y = linalg.matmul ins(%flat, %w : tensor<{batch}x32xf32>, tensor<32x5xf32>) outs(%fy : tensor<{batch}x5xf32>) -> tensor<{batch}x5xf32>
  %yb = linalg.generic {{indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}}
      ins(%y, %wb : tensor<{batch}x5xf32>, tensor<5xf32>) outs(%ey : tensor<{batch}x5xf32>) {{
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  }} -> tensor<{batch}x5xf32>
  return %yb : tensor<{batch}x5xf32>
}}
"""


@pytest.mark.parametrize("bits", ["weight-bits=8 act-bits=8",
                                  "weight-bits=4 act-bits=8",
                                  "weight-bits=4 act-bits=4",
                                  "weight-bits=2 act-bits=8"])
def test_integer_cnn_matches_simulation(qat_opt, compile_mlir, tmp_path,
                                        bits):
    """Convolutions with padding (padded with the zero point's code), max
    pooling and flattening carried on int8 codes, then a linear layer; at
    8, 4 and 2 bits (4- and 2-bit weights packed two and four per
    byte)."""
    instrumented = qat_opt(cnn_text(), f"--qat-instrument={bits}")
    tag = bits.replace(" ", "_").replace("=", "")
    model = compile_mlir(instrumented, name="cnn_qat" + tag)
    rng = np.random.default_rng(13)
    shapes = {a.name: a.shape for a in model.cnn.args}
    values = {k: (rng.standard_normal(shapes[k]) * 0.3).astype(F32)
              for k in ("k0", "kb0", "k1", "kb1", "w", "wb")}
    x = rng.random(shapes["x"], dtype=F32)
    init = model.cnn_init_qparams
    q = dict(zip((r.name for r in init.results),
                 init(*[dict(values, x=x)[a.name] for a in init.args])))
    frozen_values = {k: np.asarray(v).tolist() for k, v in q.items()}
    frozen_values.update({k: v.tolist() for k, v in values.items()})
    path = tmp_path / f"cnn{tag}.json"
    path.write_text(json.dumps(frozen_values))
    frozen = qat_opt(instrumented, f"--qat-freeze=values={path} function=cnn")
    integer = qat_opt(frozen, "--qat-convert-to-integer")
    body = integer.split("func.func @cnn_init")[0]
    assert "qat.fake_quant" not in body
    assert "xi8>" in body and "linalg.pooling_nhwc_max" in body
    # 4-bit weights are stored two per byte, 2-bit ones four per byte (the
    # 3x3x4x8 filter's 288 codes in 144 or 72 bytes), and unpacked in front
    # of the convolution.
    width = int(bits.split()[0].split("=")[1])
    for per in (2, 4):
        packed = re.search(
            rf"arith\.constant dense<[^\n]*: tensor<{288 // per}xi8>", body)
        assert bool(packed) == (width == 8 // per), (per, body)
    simulated = compile_mlir(frozen, name="cnn_sim" + tag).cnn(x)
    deployed = compile_mlir(integer, name="cnn_int" + tag).cnn(x)
    steps = np.abs(deployed - simulated) / q["matmul_0.act_scale"]
    print(f"CNN: max {steps.max():.3f} steps, {(steps > 0.5).mean():.3f} "
          "of outputs differ")
    assert steps.max() <= 1.0 + 1e-4, steps.max()
    # Ternary (2-bit) weights make more of the fast simulation's float sums
    # land on a rounding boundary (test_faithful checks W2A8 exactly).
    assert (steps > 0.5).mean() < (0.25 if width == 2 else 0.2)
    assert (deployed.argmax(1) == simulated.argmax(1)).all()


def test_checker_finds_the_first_diverging_layer(qat_opt, compile_mlir,
                                                 tmp_path):
    """qat-expose-layers + qat.check: the converted CNN agrees with its
    simulation layer by layer; a deployment with one corrupted layer is
    reported at that layer, the earlier ones still agreeing."""
    import re
    from qat.check import compare, format_report
    instrumented = qat_opt(cnn_text(), "--qat-instrument")
    model = compile_mlir(instrumented, name="cnn_qat_check")
    rng = np.random.default_rng(14)
    shapes = {a.name: a.shape for a in model.cnn.args}
    values = {k: (rng.standard_normal(shapes[k]) * 0.3).astype(F32)
              for k in ("k0", "kb0", "k1", "kb1", "w", "wb")}
    x = rng.random(shapes["x"], dtype=F32)
    init = model.cnn_init_qparams
    q = dict(zip((r.name for r in init.results),
                 init(*[dict(values, x=x)[a.name] for a in init.args])))
    path = tmp_path / "check.json"
    path.write_text(json.dumps({k: np.asarray(v).tolist()
                                for k, v in dict(values, **q).items()}))
    frozen = qat_opt(instrumented, f"--qat-freeze=values={path} function=cnn")
    integer = qat_opt(frozen, "--qat-convert-to-integer")
    sim = compile_mlir(qat_opt(frozen, "--qat-expose-layers"),
                       name="sim_layers").cnn
    dep = compile_mlir(qat_opt(integer, "--qat-expose-layers"),
                       name="int_layers").cnn
    assert [r.name for r in dep.results] == [
        "logits", "layer:conv_0", "layer:conv_1", "layer:matmul_0"]
    report = compare(sim, dep, x)
    assert [r.layer for r in report] == ["conv_0", "conv_1", "matmul_0"]
    assert all(r.differing == 0 for r in report), format_report(report)

    # Corrupt conv_1's output zero point in the deployed program.
    requantizes = [m.start() for m in re.finditer("qat.requantize", integer)]
    start = requantizes[1]
    end = integer.index("\n", start)
    line = integer[start:end]
    zero = int(re.search(r"output_zero_point = (-?\d+)", line).group(1))
    broken = integer[:start] + line.replace(
        f"output_zero_point = {zero}", f"output_zero_point = {zero + 3}") + \
        integer[end:]
    dep = compile_mlir(qat_opt(broken, "--qat-expose-layers"),
                       name="int_broken").cnn
    report = compare(sim, dep, x)
    text = format_report(report)
    assert report[0].differing == 0, text
    assert report[1].differing > 0 and report[1].max_steps >= 1, text
    assert text.endswith("first divergence: conv_1")


MOBILE = """
#id = affine_map<(n, h, w, c) -> (n, h, w, c)>
#ch = affine_map<(n, h, w, c) -> (c)>
func.func @net(%x: tensor<4x8x8x2xf32> {qat.name = "x"},
    %dw: tensor<3x3x2xf32> {qat.name = "dw"}, %db: tensor<2xf32> {qat.name = "db"},
    %pw: tensor<1x1x2x4xf32> {qat.name = "pw"}, %pb: tensor<4xf32> {qat.name = "pb"},
    %w: tensor<256x5xf32> {qat.name = "w"}) -> (tensor<4x5xf32> {qat.name = "logits"}) {
  %zero = arith.constant 0.0 : f32
  %six = arith.constant 6.0 : f32
  %xp = tensor.pad %x low[0, 1, 1, 0] high[0, 1, 1, 0] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %zero : f32
  } : tensor<4x8x8x2xf32> to tensor<4x10x10x2xf32>
  %e2 = tensor.empty() : tensor<4x8x8x2xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<4x8x8x2xf32>) -> tensor<4x8x8x2xf32>
  %d = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%xp, %dw : tensor<4x10x10x2xf32>, tensor<3x3x2xf32>) outs(%f2 : tensor<4x8x8x2xf32>) -> tensor<4x8x8x2xf32>
  %d6 = linalg.generic {indexing_maps = [#id, #ch, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%d, %db : tensor<4x8x8x2xf32>, tensor<2xf32>) outs(%e2 : tensor<4x8x8x2xf32>) {
  ^bb0(%v: f32, %bb: f32, %o: f32):
    %s = arith.addf %v, %bb : f32
    %lo = arith.maximumf %s, %zero : f32
    %hi = arith.minimumf %lo, %six : f32
    linalg.yield %hi : f32
  } -> tensor<4x8x8x2xf32>
  %e4 = tensor.empty() : tensor<4x8x8x4xf32>
  %f4 = linalg.fill ins(%zero : f32) outs(%e4 : tensor<4x8x8x4xf32>) -> tensor<4x8x8x4xf32>
  %p = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%d6, %pw : tensor<4x8x8x2xf32>, tensor<1x1x2x4xf32>) outs(%f4 : tensor<4x8x8x4xf32>) -> tensor<4x8x8x4xf32>
  %pr = linalg.generic {indexing_maps = [#id, #ch, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%p, %pb : tensor<4x8x8x4xf32>, tensor<4xf32>) outs(%e4 : tensor<4x8x8x4xf32>) {
  ^bb0(%v: f32, %bb: f32, %o: f32):
    %s = arith.addf %v, %bb : f32
    %r = arith.maximumf %s, %zero : f32
    linalg.yield %r : f32
  } -> tensor<4x8x8x4xf32>
  %flat = tensor.collapse_shape %pr [[0], [1, 2, 3]] : tensor<4x8x8x4xf32> into tensor<4x256xf32>
  %ey = tensor.empty() : tensor<4x5xf32>
  %fy = linalg.fill ins(%zero : f32) outs(%ey : tensor<4x5xf32>) -> tensor<4x5xf32>
  %y = linalg.matmul ins(%flat, %w : tensor<4x256xf32>, tensor<256x5xf32>) outs(%fy : tensor<4x5xf32>) -> tensor<4x5xf32>
  return %y : tensor<4x5xf32>
}
"""


def test_integer_depthwise_pointwise_matches_simulation(qat_opt, compile_mlir,
                                                        tmp_path):
    """Depthwise (per-channel weights along C) with ReLU6 as a code clamp,
    then a pointwise convolution and a linear layer."""
    instrumented = qat_opt(MOBILE, "--qat-instrument")
    model = compile_mlir(instrumented, name="mobile_qat")
    rng = np.random.default_rng(15)
    shapes = {a.name: a.shape for a in model.net.args}
    values = {k: (rng.standard_normal(shapes[k]) * 0.8).astype(F32)
              for k in ("dw", "db", "pw", "pb", "w")}
    x = (rng.random(shapes["x"], dtype=F32) * 4).astype(F32)
    init = model.net_init_qparams
    q = dict(zip((r.name for r in init.results),
                 init(*[dict(values, x=x)[a.name] for a in init.args])))
    path = tmp_path / "mobile.json"
    path.write_text(json.dumps({k: np.asarray(v).tolist()
                                for k, v in dict(values, **q).items()}))
    frozen = qat_opt(instrumented, f"--qat-freeze=values={path} function=net")
    integer = qat_opt(frozen, "--qat-convert-to-integer")
    body = integer.split("func.func @net_init")[0]
    assert "linalg.depthwise_conv_2d_nhwc_hwc" in body and "xi8>" in body
    assert "qat.fake_quant" not in body
    simulated = compile_mlir(frozen, name="mobile_sim").net(x)
    deployed = compile_mlir(integer, name="mobile_int").net(x)
    steps = np.abs(deployed - simulated) / q["matmul_0.act_scale"]
    assert steps.max() <= 1.0 + 1e-4, steps.max()
    assert (steps > 0.5).mean() < 0.2


POOLED = """
func.func @net(%x: tensor<4x8x8x1xf32> {qat.name = "x"},
    %k0: tensor<3x3x1x4xf32> {qat.name = "k0"}, %kb0: tensor<4xf32> {qat.name = "kb0"},
    %w: tensor<4x5xf32> {qat.name = "w"}) -> (tensor<4x5xf32> {qat.name = "logits"}) {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %quarter = arith.constant 0.25 : f32
  %four = arith.constant 4.0 : f32""" + conv_block(0, "%x", 8, 1, 4, 4) + """
  %win = tensor.empty() : tensor<2x2xf32>
  %ea = tensor.empty() : tensor<4x2x2x4xf32>
  %fa = linalg.fill ins(%zero : f32) outs(%ea : tensor<4x2x2x4xf32>) -> tensor<4x2x2x4xf32>
  %sa = linalg.pooling_nhwc_sum {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%p0, %win : tensor<4x4x4x4xf32>, tensor<2x2xf32>) outs(%fa : tensor<4x2x2x4xf32>) -> tensor<4x2x2x4xf32>
  %avg = linalg.generic {indexing_maps = [affine_map<(n, h, w, c) -> (n, h, w, c)>, affine_map<(n, h, w, c) -> (n, h, w, c)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%sa : tensor<4x2x2x4xf32>) outs(%ea : tensor<4x2x2x4xf32>) {
  ^bb0(%v: f32, %o: f32):
    %m = arith.mulf %v, %quarter : f32
    linalg.yield %m : f32
  } -> tensor<4x2x2x4xf32>
  %eg = tensor.empty() : tensor<4x4xf32>
  %fg = linalg.fill ins(%zero : f32) outs(%eg : tensor<4x4xf32>) -> tensor<4x4xf32>
  %sum = linalg.generic {indexing_maps = [affine_map<(n, c, h, w) -> (n, h, w, c)>, affine_map<(n, c, h, w) -> (n, c)>], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%avg : tensor<4x2x2x4xf32>) outs(%fg : tensor<4x4xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %s = arith.addf %v, %acc : f32
    linalg.yield %s : f32
  } -> tensor<4x4xf32>
  %mean = linalg.generic {indexing_maps = [affine_map<(n, c) -> (n, c)>, affine_map<(n, c) -> (n, c)>], iterator_types = ["parallel", "parallel"]}
      ins(%sum : tensor<4x4xf32>) outs(%eg : tensor<4x4xf32>) {
  ^bb0(%v: f32, %o: f32):
    %m = arith.divf %v, %four : f32
    linalg.yield %m : f32
  } -> tensor<4x4xf32>
  %ey = tensor.empty() : tensor<4x5xf32>
  %fy = linalg.fill ins(%zero : f32) outs(%ey : tensor<4x5xf32>) -> tensor<4x5xf32>
  %y = linalg.matmul ins(%mean, %w : tensor<4x4xf32>, tensor<4x5xf32>) outs(%fy : tensor<4x5xf32>) -> tensor<4x5xf32>
  return %y : tensor<4x5xf32>
}
"""


def test_integer_average_pool_and_global_mean(qat_opt, compile_mlir,
                                              tmp_path):
    """Sum pooling scaled by 1/4 and a global mean (a reduction divided by
    its count): int32 sums of codes, the zero point's share in the
    requantization's input zero point, 1/count in its multiplier."""
    instrumented, values, q, x = quantized_model(
        qat_opt, compile_mlir, POOLED, "net", 0.5, seed=16, x_scale=1.0,
        x_shift=0.0, name="pooled")
    frozen = freeze_values(qat_opt, instrumented, dict(values, **q), "net",
                           tmp_path / "pooled.json")
    integer = qat_opt(frozen, "--qat-convert-to-integer")
    body = integer.split("func.func @net_init")[0]
    assert "qat.fake_quant" not in body
    assert "linalg.pooling_nhwc_sum" in body and "xi32>" in body
    assert body.count("input_zero_point") >= 2, body
    simulated = compile_mlir(frozen, name="pooled_sim").net(x)
    deployed = compile_mlir(integer, name="pooled_int").net(x)
    assert_within_one_step(simulated, deployed, q["matmul_0.act_scale"],
                           "pooled")


def onnx_text(nodes, parameter_shapes, x_shape, logits_shape):
    """The MLIR the ONNX importer makes of `nodes` (input `x`, output
    `logits`; parameters as zero initializers, given values later)."""
    from onnx import TensorProto, helper, numpy_helper
    from qat.onnx_import import import_onnx
    graph = helper.make_graph(
        nodes, "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                       logits_shape)],
        [numpy_helper.from_array(np.zeros(s, np.float32), k)
         for k, s in parameter_shapes.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("",
                                                                        13)])
    model.ir_version = 8
    return import_onnx(model).text


def residual_text(batch=4):
    """A ResNet basic block through the ONNX importer: conv-ReLU-conv, the
    block's input added back, ReLU, global average pool, linear."""
    from onnx import helper
    zeros = {"c1.weight": (8, 8, 3, 3), "c1.bias": (8,),
             "c2.weight": (8, 8, 3, 3), "c2.bias": (8,),
             "stem.weight": (8, 1, 3, 3), "fc.weight": (5, 8), "fc.bias": (5,)}
    conv = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    nodes = [
        helper.make_node("Conv", ["x", "stem.weight"], ["s"], **conv),
        helper.make_node("Relu", ["s"], ["sr"]),
        helper.make_node("Conv", ["sr", "c1.weight", "c1.bias"], ["a"], **conv),
        helper.make_node("Relu", ["a"], ["ar"]),
        helper.make_node("Conv", ["ar", "c2.weight", "c2.bias"], ["b"], **conv),
        helper.make_node("Add", ["b", "sr"], ["sum"]),
        helper.make_node("Relu", ["sum"], ["out"]),
        helper.make_node("GlobalAveragePool", ["out"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"],
                         transB=1)]
    return onnx_text(nodes, zeros, [batch, 1, 6, 6], [batch, 5])


def test_integer_residual_block(qat_opt, compile_mlir, tmp_path):
    """The residual add in integers: both operands rescaled to a common
    int32 grid 2^20 finer than the coarser one, added, requantized with the
    ReLU as the clamp; the identity input read twice (conv and add)."""
    instrumented, values, q, x = quantized_model(
        qat_opt, compile_mlir, residual_text(), "net", 0.4, seed=17,
        name="residual")
    frozen = freeze_values(qat_opt, instrumented, dict(values, **q), "net",
                           tmp_path / "residual.json")
    integer = qat_opt(frozen, "--qat-convert-to-integer")
    body = integer.split("func.func @net_init")[0]
    assert "qat.fake_quant" not in body
    assert body.count("num_bits = 32") == 2 and "arith.addi" in body
    simulated = compile_mlir(frozen, name="residual_sim").net(x)
    deployed = compile_mlir(integer, name="residual_int").net(x)
    assert_within_one_step(simulated, deployed, q["matmul_0.act_scale"],
                           "residual")


def concat_text(batch=4):
    """An Inception-style block through the ONNX importer: two branches
    (1x1 and 3x3 convolutions with ReLU) concatenated along the channels,
    max pooled, then a 1x1 convolution, global average pool and linear."""
    from onnx import helper
    shapes = {"a.weight": (4, 2, 1, 1), "a.bias": (4,),
              "b.weight": (6, 2, 3, 3), "b.bias": (6,),
              "c.weight": (8, 10, 1, 1), "fc.weight": (3, 8)}
    nodes = [
        helper.make_node("Conv", ["x", "a.weight", "a.bias"], ["a"],
                         kernel_shape=[1, 1]),
        helper.make_node("Relu", ["a"], ["ar"]),
        helper.make_node("Conv", ["x", "b.weight", "b.bias"], ["b"],
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["b"], ["br"]),
        helper.make_node("Concat", ["ar", "br"], ["cat"], axis=1),
        helper.make_node("MaxPool", ["cat"], ["p"], kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Conv", ["p", "c.weight"], ["c"],
                         kernel_shape=[1, 1]),
        helper.make_node("GlobalAveragePool", ["c"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc.weight"], ["logits"], transB=1)]
    return onnx_text(nodes, shapes, [batch, 2, 6, 6], [batch, 3])


def test_integer_concat_block(qat_opt, compile_mlir, tmp_path):
    """Branches concatenated on one grid (qat-instrument shares the
    parameters): their int8 codes are concatenated, then max pooled."""
    instrumented, values, q, x = quantized_model(
        qat_opt, compile_mlir, concat_text(), "net", 0.5, seed=18,
        name="concat")
    frozen = freeze_values(qat_opt, instrumented, dict(values, **q), "net",
                           tmp_path / "concat.json")
    integer = qat_opt(frozen, "--qat-convert-to-integer")
    body = integer.split("func.func @net_init")[0]
    assert "qat.fake_quant" not in body
    assert re.search(r"tensor.concat dim\(3\) .*xi8>, tensor<.*xi8>\)", body)
    simulated = compile_mlir(frozen, name="concat_sim").net(x)
    deployed = compile_mlir(integer, name="concat_int").net(x)
    assert_within_one_step(simulated, deployed, q["matmul_0.act_scale"],
                           "concat")


TOSA = """
func.func @net(%x: tensor<2x8x8x4xf32> {qat.name = "x"},
    %w: tensor<8x3x3x4xf32> {qat.name = "w"}, %b: tensor<8xf32> {qat.name = "b"})
    -> tensor<2x8xf32> {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %c = tosa.conv2d %x, %w, %b, %zp, %zp {acc_type = f32, dilation = array<i64: 1, 1>, pad = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : (tensor<2x8x8x4xf32>, tensor<8x3x3x4xf32>, tensor<8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<2x8x8x8xf32>
  %r = tosa.clamp %c {max_val = 6.0 : f32, min_val = 0.0 : f32} : (tensor<2x8x8x8xf32>) -> tensor<2x8x8x8xf32>
  %p = tosa.avg_pool2d %r, %zp, %zp {acc_type = f32, kernel = array<i64: 8, 8>, pad = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1>} : (tensor<2x8x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<2x1x1x8xf32>
  %s = tosa.const_shape {values = dense<[2, 8]> : tensor<2xindex>} : () -> !tosa.shape<2>
  %o = tosa.reshape %p, %s : (tensor<2x1x1x8xf32>, !tosa.shape<2>) -> tensor<2x8xf32>
  return %o : tensor<2x8xf32>
}
"""


def test_integer_tosa_convolution(qat_opt, compile_mlir, tmp_path):
    """TOSA through upstream tosa-to-linalg: an FHWC filter (deployed as
    HWCF), the bias in the accumulator's init, ReLU6, average pooling."""
    linalg = qat_opt(TOSA, "--tosa-to-linalg-pipeline", "--tosa-to-tensor",
                     "--tosa-to-arith")
    instrumented, values, q, x = quantized_model(
        qat_opt, compile_mlir, linalg, "net", 0.4, seed=19, name="tosa")
    frozen = freeze_values(qat_opt, instrumented, dict(values, **q), "net",
                           tmp_path / "tosa.json")
    integer = qat_opt(frozen, "--qat-convert-to-integer")
    assert "linalg.conv_2d_nhwc_hwcf" in integer
    assert "qat.fake_quant" not in integer
    simulated = compile_mlir(frozen, name="tosa_sim").net(x)
    deployed = compile_mlir(integer, name="tosa_int").net(x)
    output_scale = [v for k, v in q.items() if k.endswith("act_scale")][-1]
    assert_within_one_step(simulated, deployed, output_scale, "tosa")
    # The bias in the accumulator matters: without it the outputs move.
    assert np.abs(values["b"]).max() > 0.1


def gate_text(batch=4):
    """Gates through the ONNX importer: a convolution with SiLU
    (`x * sigmoid(x)`), then a squeeze-and-excitation block (global mean,
    1x1 convolution, sigmoid, the [N, C, 1, 1] gate broadcast over the
    [N, C, H, W] activations), global average pool, linear."""
    from onnx import helper
    shapes = {"c.weight": (8, 2, 3, 3), "c.bias": (8,),
              "se.weight": (8, 8, 1, 1), "se.bias": (8,),
              "fc.weight": (3, 8)}
    nodes = [
        helper.make_node("Conv", ["x", "c.weight", "c.bias"], ["a"],
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["a"], ["as"]),
        helper.make_node("Mul", ["a", "as"], ["silu"]),
        helper.make_node("GlobalAveragePool", ["silu"], ["m"]),
        helper.make_node("Conv", ["m", "se.weight", "se.bias"], ["e"],
                         kernel_shape=[1, 1]),
        helper.make_node("Sigmoid", ["e"], ["gate"]),
        helper.make_node("Mul", ["silu", "gate"], ["gated"]),
        helper.make_node("GlobalAveragePool", ["gated"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc.weight"], ["logits"], transB=1)]
    return onnx_text(nodes, shapes, [batch, 2, 6, 6], [batch, 3])


def attention_text(batch=4):
    """One attention head through the ONNX importer: projections by
    weights, scores Q K^T scaled by 1/sqrt(8) (matmuls of two computed
    tensors: linalg.batch_matmul), softmax, the weighted values, a mean
    over the sequence and a linear head."""
    from onnx import TensorProto, helper
    shapes = {"wq": (8, 8), "wk": (8, 8), "wv": (8, 8), "fc.weight": (3, 8)}
    scale = helper.make_tensor("scale", TensorProto.FLOAT, [],
                               [1.0 / np.sqrt(8.0)])
    nodes = [
        helper.make_node("Constant", [], ["s"], value=scale),
        helper.make_node("MatMul", ["x", "wq"], ["q"]),
        helper.make_node("MatMul", ["x", "wk"], ["k"]),
        helper.make_node("MatMul", ["x", "wv"], ["v"]),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["qk"]),
        helper.make_node("Mul", ["qk", "s"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "v"], ["att"]),
        helper.make_node("ReduceMean", ["att"], ["pooled"], axes=[1],
                         keepdims=0),
        helper.make_node("Gemm", ["pooled", "fc.weight"], ["logits"],
                         transB=1)]
    return onnx_text(nodes, shapes, [batch, 6, 8], [batch, 3])


def test_integer_gates(qat_opt, compile_mlir, tmp_path):
    """SiLU's product and the squeeze-and-excitation gate (broadcast over
    the pixels) as products of two quantized tensors: (qa - za) (qb - zb)
    in int32, requantized by s_a s_b / s_y; only the sigmoids stay float."""
    instrumented, values, q, x = quantized_model(
        qat_opt, compile_mlir, gate_text(), "net", 0.5, seed=20, name="gate")
    frozen = freeze_values(qat_opt, instrumented, dict(values, **q), "net",
                           tmp_path / "gate.json")
    integer = qat_opt(frozen, "--qat-convert-to-integer")
    body = integer.split("func.func @net_init")[0]
    assert "qat.fake_quant" not in body
    assert body.count("arith.muli") == 2 and "arith.mulf" not in body, body
    simulated = compile_mlir(frozen, name="gate_sim").net(x)
    deployed = compile_mlir(integer, name="gate_int").net(x)
    output_scale = [v for k, v in q.items() if k.endswith("act_scale")][-1]
    assert_within_one_step(simulated, deployed, output_scale, "gate")


def test_integer_attention(qat_opt, compile_mlir, tmp_path):
    """Scores and weighted values as int8 x int8 batch matmuls: the zero
    points of both activations removed by the accumulator's initial value,
    the 1/sqrt(d) scale folded into the multiplier; the softmax stays a
    float island."""
    instrumented, values, q, x = quantized_model(
        qat_opt, compile_mlir, attention_text(), "net", 0.6, seed=21,
        x_shift=-1.0, name="attention")
    frozen = freeze_values(qat_opt, instrumented, dict(values, **q), "net",
                           tmp_path / "attention.json")
    integer = qat_opt(frozen, "--qat-convert-to-integer")
    body = integer.split("func.func @net_init")[0]
    products = re.findall(r"linalg.batch_matmul ins\(.*: (tensor<\S+>), "
                          r"(tensor<\S+>)\) outs\(.*: (tensor<\S+>)\)", body)
    assert len(products) == 2, body
    assert all(a.endswith("xi8>") and b.endswith("xi8>") and
               c.endswith("xi32>") for a, b, c in products), products
    simulated = compile_mlir(frozen, name="attention_sim").net(x)
    deployed = compile_mlir(integer, name="attention_int").net(x)
    output_scale = [v for k, v in q.items() if k.endswith("act_scale")][-1]
    assert_within_one_step(simulated, deployed, output_scale, "attention")


def test_tabulated_islands_equal_computed_ones(qat_opt, compile_mlir,
                                               tmp_path):
    """qat-tabulate-codes (in qat-deploy-pipeline): SiLU's chain from the
    convolution's int8 codes (dequantize, sigmoid, quantize, the integer
    product, requantize) becomes a lookup in a table of the same ops on the
    256 codes: the outputs equal those of the computed chain, bit for bit."""
    instrumented, values, q, x = quantized_model(
        qat_opt, compile_mlir, gate_text(batch=8), "net", 0.5, seed=22,
        name="tab")
    frozen = freeze_values(qat_opt, instrumented, dict(values, **q), "net",
                           tmp_path / "tab.json")
    tabulated = qat_opt(frozen, "--qat-deploy-pipeline")
    computed = qat_opt(frozen, "--qat-deploy-pipeline=tabulate=false")
    body = tabulated.split("func.func @net_init")[0]
    assert re.search(r"tensor.extract %\S+\[%\S+\] : tensor<256xi8>", body)
    assert "tensor<256xi8>" not in computed.split("func.func @net_init")[0]
    # The SiLU's sigmoid runs on the 256 codes' values, not per element.
    assert re.search(r"ins\(%\S+ : tensor<256xf32>\).*\n(.*\n){0,4}.*math.exp",
                     body), body
    got = compile_mlir(tabulated, name="tab_int").net(x)
    expected = compile_mlir(computed, name="tab_computed").net(x)
    np.testing.assert_array_equal(got, expected)
