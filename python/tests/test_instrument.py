"""qat-fold-batchnorm and qat-instrument, run through the simulation lowering
(qat-compile) and compared with numpy:

* batch-norm folding computes what the unfolded network computes, also for
  channels whose gamma is 0;
* the initialiser returns the weights' and activations' min/max parameters;
* with 16-bit fake quantization the QAT network stays within a tight
  tolerance of the float network;
* with 8-bit fake quantization it equals, bit for bit, a numpy simulation
  that places fake-quants where docs/Instrumentation.md says they go.
"""

import numpy as np
import pytest

from reference import (F32, choose_qparams, conv_nhwc_hwcf,
                       depthwise_nhwc_hwc, fake_quant, max_pool_2x2, pad_hw)

EPS = F32(1e-5)

# conv3x3 -> batch norm -> ReLU -> max pool -> depthwise3x3 + bias -> ReLU6
# -> pointwise conv + bias -> residual add with the pooled tensor + ReLU ->
# global mean -> fully connected head. The intermediate results are returned
# too (each is the end of an epilogue, so returning it moves no fake-quant).
CNN = """
#id = affine_map<(n, h, w, c) -> (n, h, w, c)>
#ch = affine_map<(n, h, w, c) -> (c)>
#red = affine_map<(n, h, w, c) -> (n, c)>
#id2 = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>
func.func @cnn(%x: tensor<2x8x8x3xf32> {qat.name = "image"},
    %w1: tensor<3x3x3x8xf32> {qat.name = "w1"}, %gamma: tensor<8xf32> {qat.name = "gamma"},
    %beta: tensor<8xf32> {qat.name = "beta"}, %mean: tensor<8xf32> {qat.name = "mean"},
    %var: tensor<8xf32> {qat.name = "var"}, %dw: tensor<3x3x8xf32> {qat.name = "dw"},
    %db: tensor<8xf32> {qat.name = "db"}, %pw: tensor<1x1x8x8xf32> {qat.name = "pw"},
    %pb: tensor<8xf32> {qat.name = "pb"}, %wf: tensor<8x10xf32> {qat.name = "wf"},
    %bf: tensor<10xf32> {qat.name = "bf"})
    -> (tensor<2x10xf32> {qat.name = "logits"}, tensor<2x8x8x8xf32>, tensor<2x4x4x8xf32>,
        tensor<2x4x4x8xf32>, tensor<2x4x4x8xf32>, tensor<2x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %six = arith.constant 6.0 : f32
  %eps = arith.constant 1.0e-5 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %xp = tensor.pad %x low[0, 1, 1, 0] high[0, 1, 1, 0] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<2x8x8x3xf32> to tensor<2x10x10x3xf32>
  %e8 = tensor.empty() : tensor<2x8x8x8xf32>
  %f8 = linalg.fill ins(%zero : f32) outs(%e8 : tensor<2x8x8x8xf32>) -> tensor<2x8x8x8xf32>
  %c1 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%xp, %w1 : tensor<2x10x10x3xf32>, tensor<3x3x3x8xf32>) outs(%f8 : tensor<2x8x8x8xf32>) -> tensor<2x8x8x8xf32>
  %bn = linalg.generic {indexing_maps = [#id, #ch, #ch, #ch, #ch, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%c1, %gamma, %beta, %mean, %var : tensor<2x8x8x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) outs(%e8 : tensor<2x8x8x8xf32>) {
  ^bb0(%v: f32, %g: f32, %b: f32, %m: f32, %s: f32, %o: f32):
    %d = arith.subf %v, %m : f32
    %ve = arith.addf %s, %eps : f32
    %sd = math.sqrt %ve : f32
    %n = arith.divf %d, %sd : f32
    %sc = arith.mulf %n, %g : f32
    %r = arith.addf %sc, %b : f32
    linalg.yield %r : f32
  } -> tensor<2x8x8x8xf32>
  %r1 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%bn : tensor<2x8x8x8xf32>) outs(%e8 : tensor<2x8x8x8xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = arith.maximumf %v, %zero : f32
    linalg.yield %r : f32
  } -> tensor<2x8x8x8xf32>
  %win = tensor.empty() : tensor<2x2xf32>
  %e4 = tensor.empty() : tensor<2x4x4x8xf32>
  %m4 = linalg.fill ins(%ninf : f32) outs(%e4 : tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  %mp = linalg.pooling_nhwc_max {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%r1, %win : tensor<2x8x8x8xf32>, tensor<2x2xf32>) outs(%m4 : tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  %mpp = tensor.pad %mp low[0, 1, 1, 0] high[0, 1, 1, 0] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<2x4x4x8xf32> to tensor<2x6x6x8xf32>
  %f4 = linalg.fill ins(%zero : f32) outs(%e4 : tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  %d = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%mpp, %dw : tensor<2x6x6x8xf32>, tensor<3x3x8xf32>) outs(%f4 : tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  %d6 = linalg.generic {indexing_maps = [#id, #ch, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%d, %db : tensor<2x4x4x8xf32>, tensor<8xf32>) outs(%e4 : tensor<2x4x4x8xf32>) {
  ^bb0(%v: f32, %b: f32, %o: f32):
    %s = arith.addf %v, %b : f32
    %a = arith.minimumf %s, %six : f32
    %r = arith.maximumf %a, %zero : f32
    linalg.yield %r : f32
  } -> tensor<2x4x4x8xf32>
  %p = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%d6, %pw : tensor<2x4x4x8xf32>, tensor<1x1x8x8xf32>) outs(%f4 : tensor<2x4x4x8xf32>) -> tensor<2x4x4x8xf32>
  %pbias = linalg.generic {indexing_maps = [#id, #ch, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%p, %pb : tensor<2x4x4x8xf32>, tensor<8xf32>) outs(%e4 : tensor<2x4x4x8xf32>) {
  ^bb0(%v: f32, %b: f32, %o: f32):
    %s = arith.addf %v, %b : f32
    linalg.yield %s : f32
  } -> tensor<2x4x4x8xf32>
  %res = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%pbias, %mp : tensor<2x4x4x8xf32>, tensor<2x4x4x8xf32>) outs(%e4 : tensor<2x4x4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    %r = arith.maximumf %s, %zero : f32
    linalg.yield %r : f32
  } -> tensor<2x4x4x8xf32>
  %e2 = tensor.empty() : tensor<2x8xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x8xf32>) -> tensor<2x8xf32>
  %sum = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["parallel", "reduction", "reduction", "parallel"]}
      ins(%res : tensor<2x4x4x8xf32>) outs(%f2 : tensor<2x8xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = arith.addf %v, %o : f32
    linalg.yield %r : f32
  } -> tensor<2x8xf32>
  %sixteenth = arith.constant 0.0625 : f32
  %avg = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%sum : tensor<2x8xf32>) outs(%e2 : tensor<2x8xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = arith.mulf %v, %sixteenth : f32
    linalg.yield %r : f32
  } -> tensor<2x8xf32>
  %e10 = tensor.empty() : tensor<2x10xf32>
  %f10 = linalg.fill ins(%zero : f32) outs(%e10 : tensor<2x10xf32>) -> tensor<2x10xf32>
  %y = linalg.matmul ins(%avg, %wf : tensor<2x8xf32>, tensor<8x10xf32>) outs(%f10 : tensor<2x10xf32>) -> tensor<2x10xf32>
  %yb = linalg.generic {indexing_maps = [#id2, #col, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%y, %bf : tensor<2x10xf32>, tensor<10xf32>) outs(%e10 : tensor<2x10xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<2x10xf32>
  return %yb, %r1, %d6, %pbias, %res, %avg : tensor<2x10xf32>, tensor<2x8x8x8xf32>,
      tensor<2x4x4x8xf32>, tensor<2x4x4x8xf32>, tensor<2x4x4x8xf32>, tensor<2x8xf32>
}
"""

PARAM_SHAPES = {
    "w1": (3, 3, 3, 8), "gamma": (8,), "beta": (8,), "mean": (8,),
    "var": (8,), "dw": (3, 3, 8), "db": (8,), "pw": (1, 1, 8, 8), "pb": (8,),
    "wf": (8, 10), "bf": (10,)
}


def make_inputs(seed=0):
    rng = np.random.default_rng(seed)
    params = {k: (rng.standard_normal(s) * 0.5).astype(F32)
              for k, s in PARAM_SHAPES.items()}
    params["var"] = (rng.random(8) + 0.5).astype(F32)
    params["gamma"] = (rng.random(8) + 0.5).astype(F32)
    image = rng.random((2, 8, 8, 3), dtype=F32) * 2 - 0.5
    return image, params


def float_args(entry, image, params):
    """The float function's arguments in signature order, by qat.name."""
    named = dict(params, image=image)
    return [named[a.name] for a in entry.args[:len(PARAM_SHAPES) + 1]]


def fold(params):
    """Batch norm folded the way qat-fold-batchnorm computes it: a and c
    from (x - mean) / sqrt(var + eps) * gamma + beta, step by step."""
    sd = np.sqrt(params["var"] + EPS).astype(F32)
    a = ((F32(1) / sd) * params["gamma"]).astype(F32)
    c = ((((F32(0) - params["mean"]) / sd) * params["gamma"])
         + params["beta"]).astype(F32)
    return (params["w1"] * a).astype(F32), c


def forward(image, params, fq_act, fq_weight):
    """The network with fake-quants where the placement rules put them;
    fq_act(name, x) and fq_weight(layer, w, axis) are identities for float.
    Returns the function's results in order."""
    w1, c = fold(params)
    x = fq_act("image", image)
    h = conv_nhwc_hwcf(pad_hw(x), fq_weight("conv_0", w1, 3)) + c
    h = fq_act("conv_0", np.maximum(h, F32(0)))
    r1 = h
    mp = max_pool_2x2(h)
    d = depthwise_nhwc_hwc(pad_hw(mp), fq_weight("depthwise_conv_0",
                                                 params["dw"], 2))
    d = np.maximum(np.minimum(d + params["db"], F32(6)), F32(0))
    d = fq_act("depthwise_conv_0", d)
    p = conv_nhwc_hwcf(d, fq_weight("conv_1", params["pw"], 3)) + params["pb"]
    p = fq_act("conv_1", p)
    r = fq_act("add_0", np.maximum(p + mp, F32(0)))
    m = fq_act("reduce_0", (r.sum(axis=(1, 2)) * F32(0.0625)).astype(F32))
    y = m @ fq_weight("matmul_0", params["wf"], 1) + params["bf"]
    return fq_act("matmul_0", y.astype(F32)), r1, d, p, r, m


def no_fq(name, x, axis=None):
    return x


def instrument(qat_opt, bits):
    return qat_opt(CNN, "--qat-fold-batchnorm",
                   f"--qat-instrument=weight-bits={bits} act-bits={bits}")


def test_batchnorm_folding_matches_the_unfolded_network(qat_opt,
                                                        compile_mlir):
    original = compile_mlir(CNN, name="cnn").cnn
    folded = compile_mlir(qat_opt(CNN, "--qat-fold-batchnorm"),
                          name="folded").cnn
    image, params = make_inputs()
    params["gamma"][[1, 5]] = 0  # dead channels: bias beta, no NaN
    expected = original(*float_args(original, image, params))
    got = folded(*float_args(folded, image, params))
    reference = forward(image, params, no_fq, no_fq)
    for g, e, r in zip(got, expected, reference):
        assert np.isfinite(g).all()
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)
    # The dead channels of conv_0's output are ReLU(beta).
    np.testing.assert_array_equal(got[1][..., [1, 5]],
                                  np.broadcast_to(np.maximum(
                                      params["beta"][[1, 5]], 0),
                                                  got[1][..., [1, 5]].shape))


def test_initialiser_returns_min_max_parameters(qat_opt, compile_mlir):
    model = compile_mlir(instrument(qat_opt, 8), name="cnn_init")
    init = model.cnn_init_qparams
    image, params = make_inputs(1)
    values = dict(zip((r.name for r in init.results),
                      init(*float_args(init, image, params))))
    assert set(values) == {a.name for a in model.cnn.args[12:]}
    w1, _ = fold(params)
    for layer, w, axis in [("conv_0", w1, 3),
                           ("depthwise_conv_0", params["dw"], 2),
                           ("conv_1", params["pw"], 3),
                           ("matmul_0", params["wf"], 1)]:
        others = tuple(i for i in range(w.ndim) if i != axis)
        scale, _ = choose_qparams(w.min(axis=others), w.max(axis=others), 8,
                                  True, narrow=True, symmetric=True)
        np.testing.assert_allclose(values[f"{layer}.weight_scale"], scale,
                                   rtol=1e-6, err_msg=layer)

    # Activations: the float network's ranges at each quantization point.
    seen = {}

    def observe(name, x):
        seen[name] = x
        return x

    forward(image, params, observe, no_fq)
    for name, x in seen.items():
        scale, zero = choose_qparams(x.min(), x.max(), 8, False)
        np.testing.assert_allclose(values[f"{name}.act_scale"], scale,
                                   rtol=1e-5, err_msg=name)
        assert abs(int(values[f"{name}.act_zero_point"]) - int(zero)) <= 1


def run_instrumented(model, image, params, qparams):
    entry = model.cnn
    named = dict(params, image=image, **qparams)
    return entry(*[named[a.name] for a in entry.args])


def test_16_bit_simulation_is_close_to_float(qat_opt, compile_mlir):
    model = compile_mlir(instrument(qat_opt, 16), name="cnn16")
    float_model = compile_mlir(CNN, name="cnn_float").cnn
    image, params = make_inputs(2)
    init = model.cnn_init_qparams
    qparams = dict(zip((r.name for r in init.results),
                       init(*float_args(init, image, params))))
    expected = float_model(*float_args(float_model, image, params))[0]
    got = run_instrumented(model, image, params, qparams)[0]
    error = np.abs(got - expected).max() / np.abs(expected).max()
    assert error < 2e-4, error
    # 8 bits is visibly coarser, so the bound above is a real constraint.
    model8 = compile_mlir(instrument(qat_opt, 8), name="cnn8")
    init8 = model8.cnn_init_qparams
    qparams8 = dict(zip((r.name for r in init8.results),
                        init8(*float_args(init8, image, params))))
    got8 = run_instrumented(model8, image, params, qparams8)[0]
    assert np.abs(got8 - expected).max() / np.abs(expected).max() > 1e-3


def test_8_bit_simulation_matches_numpy_bit_for_bit(qat_opt, compile_mlir):
    model = compile_mlir(instrument(qat_opt, 8), name="cnn8_exact")
    image, params = make_inputs(3)
    init = model.cnn_init_qparams
    qparams = dict(zip((r.name for r in init.results),
                       init(*float_args(init, image, params))))
    # Power-of-two scales make every product and sum of quantized values
    # exact in binary32, so accumulation order cannot matter and the two
    # programs must agree on every bit.
    for name, value in qparams.items():
        if name.endswith("_scale"):
            qparams[name] = np.exp2(np.round(np.log2(value))).astype(F32)

    def fq_act(name, x):
        return fake_quant(x, qparams[f"{name}.act_scale"],
                          qparams[f"{name}.act_zero_point"], 8, False)

    def fq_weight(layer, w, axis):
        scale = qparams[f"{layer}.weight_scale"]
        return fake_quant(w, scale, np.zeros(scale.shape, np.int32), 8, True,
                          narrow=True, axis=axis)

    expected = forward(image, params, fq_act, fq_weight)
    got = run_instrumented(model, image, params, qparams)
    for i, (g, e) in enumerate(zip(got, expected)):
        np.testing.assert_array_equal(g, e, err_msg=f"result {i}")
        assert len(np.unique(g)) > 5  # not trivially saturated


@pytest.mark.parametrize("bits", [4, 6])
def test_narrow_weights_follow_the_option(qat_opt, compile_mlir, bits):
    """weight-bits reaches the op: codes of conv_0's weight stay within
    +-(2^(bits-1) - 1) steps."""
    text = qat_opt(CNN, "--qat-fold-batchnorm",
                   f"--qat-instrument=weight-bits={bits}")
    assert f"num_bits = {bits} : i64, role = \"weight_scale\"" in text
    model = compile_mlir(text, name=f"cnn_w{bits}")
    image, params = make_inputs(4)
    init = model.cnn_init_qparams
    values = dict(zip((r.name for r in init.results),
                      init(*float_args(init, image, params))))
    w1, _ = fold(params)
    scale = values["conv_0.weight_scale"]
    limit = (1 << (bits - 1)) - 1
    np.testing.assert_allclose(scale, np.abs(w1).max(axis=(0, 1, 2)) / limit,
                               rtol=1e-6)
