"""qat-convert-to-integer on a frozen QAT MLP, compiled: the integer program
against the float simulation it came from (the fast float mode: within one
step of the output scale) and against a numpy integer program written from
docs/Semantics.md (exact)."""

import json

import numpy as np

from reference import F32, choose_qparams, quant_range
from test_training import MLP, init_mlp, separable_data


def quantize(x, scale, zero, lo, hi):
    """quantmath::quantize: one binary32 division, ties to even, clamped."""
    return np.clip(np.rint(np.asarray(x, F32) / F32(scale)) + zero, lo,
                   hi).astype(np.int64)


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
