"""qat-faithful: the simulation computes each layer with the integer
arithmetic deployment uses, so the deployed program (qat-convert-to-integer
of the same values) gives the same outputs bit for bit, on every test
model; and training through it still works (gradients of the float layers,
straight-through)."""

import numpy as np
import pytest

from reference import F32
from test_convert import (MOBILE, POOLED, attention_text, cnn_text,
                          concat_text, freeze_values, gate_text,
                          quantized_model, residual_text)
from test_training import MLP, init_mlp, named_call, separable_data

# name, MLIR, entry, weight scale of the random values, instrument options
MODELS = [
    ("mlp", MLP, "mlp", 0.3, ""),
    ("cnn", cnn_text(batch=16), "cnn", 0.3, ""),
    ("cnn_w4a8", cnn_text(batch=16), "cnn", 0.3, "weight-bits=4 act-bits=8"),
    ("cnn_w4a4", cnn_text(batch=16), "cnn", 0.3, "weight-bits=4 act-bits=4"),
    # 2-bit weights, deployed four codes per byte.
    ("cnn_w2a8", cnn_text(batch=16), "cnn", 0.3, "weight-bits=2 act-bits=8"),
    ("mobile", MOBILE, "net", 0.8, ""),
    ("pooled", POOLED, "net", 0.5, ""),
    ("residual", residual_text(batch=8), "net", 0.4, ""),
    ("concat", concat_text(batch=8), "net", 0.5, ""),
    ("gate", gate_text(batch=8), "net", 0.5, ""),
    ("attention", attention_text(batch=8), "net", 0.6, ""),
]


@pytest.mark.parametrize("name,text,entry,scale,options", MODELS,
                         ids=[m[0] for m in MODELS])
def test_faithful_simulation_equals_deployment(qat_opt, compile_mlir,
                                               tmp_path, name, text, entry,
                                               scale, options):
    instrumented, values, qparams, x = quantized_model(
        qat_opt, compile_mlir, text, entry, scale, options, name=name)
    # Scales frozen, weights and biases still arguments (still trainable).
    scales_only = freeze_values(qat_opt, instrumented, qparams, entry,
                         tmp_path / "qparams.json")
    faithful = qat_opt(scales_only, "--qat-faithful")
    assert "qat.straight_through" in faithful
    simulated = compile_mlir(faithful, name=f"{name}_faithful")[entry]
    got = simulated(*[dict(values, x=x)[a.name] for a in simulated.args])

    frozen = freeze_values(qat_opt, instrumented, dict(values, **qparams), entry,
                    tmp_path / "all.json")
    deployed = compile_mlir(qat_opt(frozen, "--qat-convert-to-integer"),
                            name=f"{name}_int")[entry](x)
    fast = compile_mlir(frozen, name=f"{name}_fast")[entry](x)
    differing = int(np.count_nonzero(fast != deployed))
    print(f"{name}: fast simulation differs from deployment in {differing} "
          f"of {deployed.size} outputs; faithful in "
          f"{int(np.count_nonzero(got != deployed))}")
    np.testing.assert_array_equal(got, deployed)


def test_faithful_mode_can_tell_the_modes_apart(qat_opt, compile_mlir,
                                                tmp_path):
    """On a case where the fast simulation and deployment do differ, the
    faithful simulation still agrees: the test above is not vacuous."""
    instrumented, values, qparams, x = quantized_model(
        qat_opt, compile_mlir, cnn_text(batch=64), "cnn", 1.0, seed=3,
        name="wide")
    frozen = freeze_values(qat_opt, instrumented, dict(values, **qparams), "cnn",
                    tmp_path / "all.json")
    deployed = compile_mlir(qat_opt(frozen, "--qat-convert-to-integer"),
                            name="wide_int").cnn(x)
    fast = compile_mlir(frozen, name="wide_fast").cnn(x)
    assert np.count_nonzero(fast != deployed) > 0
    faithful = compile_mlir(qat_opt(freeze_values(
        qat_opt, instrumented, qparams, "cnn", tmp_path / "q.json"),
        "--qat-faithful"), name="wide_faithful").cnn
    got = faithful(*[dict(values, x=x)[a.name] for a in faithful.args])
    np.testing.assert_array_equal(got, deployed)


def test_training_through_the_faithful_simulation(qat_opt, compile_mlir,
                                                  tmp_path):
    """Fine-tuning with frozen scales: the loss falls, and the trained
    weights deploy to exactly the outputs the faithful eval step saw."""
    rng = np.random.default_rng(7)
    instrumented = qat_opt(MLP, "--qat-instrument")
    values = init_mlp(rng)
    x, labels = separable_data(rng)
    init = compile_mlir(instrumented, name="mlp_q").mlp_init_qparams
    qparams = dict(zip((r.name for r in init.results),
                       init(*[dict(values, x=x)[a.name] for a in init.args])))
    faithful = qat_opt(freeze_values(qat_opt, instrumented, qparams, "mlp",
                              tmp_path / "q.json"), "--qat-faithful")
    model = compile_mlir(qat_opt(faithful, "--qat-build-train-step"),
                         name="mlp_faithful_train")
    state = {a.name: np.zeros(a.shape, F32) for a in model.train_step.args
             if a.name.startswith("momentum:")}
    losses = []
    for step in range(1, 41):
        out = named_call(model.train_step, dict(
            values, **state, x=x, labels=labels, lr=np.array(0.1, F32),
            step=np.array(step, F32)))
        losses.append(float(out.pop("loss")))
        for k, v in out.items():
            kind, _, bare = k.partition(":")
            if kind == "param":
                values[bare] = v
            else:
                state[k] = v
    assert losses[-1] < losses[0] / 3, losses
    # The weights moved; the gradients reached them through straight_through.
    evaluated = named_call(model.eval_step, dict(values, x=x, labels=labels))
    frozen = freeze_values(qat_opt, instrumented, dict(values, **qparams), "mlp",
                    tmp_path / "all.json")
    deployed = compile_mlir(qat_opt(frozen, "--qat-convert-to-integer"),
                            name="mlp_trained_int").mlp(x)
    np.testing.assert_array_equal(evaluated["output:logits"], deployed)


def test_int32_bias_codes_match_the_reference(qat_opt, compile_mlir):
    """qat.quantize with num_bits = 32 (the faithful bias codes) saturates
    like quantmath::quantize: float(2^31 - 1) rounds up to 2^31 in binary32,
    the code is still 2^31 - 1."""
    text = """
func.func @q(%x: tensor<8xf32>, %s: tensor<f32>) -> tensor<8xi32> {
  %z = arith.constant dense<0> : tensor<i32>
  %q = qat.quantize %x, %s, %z {num_bits = 32 : i64} : tensor<8xf32>, tensor<f32>, tensor<i32> -> tensor<8xi32>
  return %q : tensor<8xi32>
}
"""
    x = np.array([1e10, -1e10, 2147483520.0, 2.0 ** 31, 0.5, 1.5, -2.5,
                  np.nan], F32)
    got = compile_mlir(text, name="q32").q(x, np.array(1.0, F32))
    expected = [2**31 - 1, -2**31, 2147483520, 2**31 - 1, 0, 2, -2, 0]
    np.testing.assert_array_equal(got, np.array(expected, np.int64))
    halves = compile_mlir(text, name="q32h").q(x, np.array(0.5, F32))
    np.testing.assert_array_equal(halves[4:7], [1, 3, -5])


def test_faithful_tosa_bias_in_the_accumulator(qat_opt, compile_mlir,
                                               tmp_path):
    """TOSA's convolution starts its accumulator from the trained bias: the
    faithful simulation quantizes that bias at run time too."""
    from test_convert import TOSA
    linalg = qat_opt(TOSA, "--tosa-to-linalg-pipeline", "--tosa-to-tensor",
                     "--tosa-to-arith")
    instrumented, values, qparams, x = quantized_model(
        qat_opt, compile_mlir, linalg, "net", 0.4, seed=19, name="tosa_f")
    faithful = qat_opt(freeze_values(qat_opt, instrumented, qparams, "net",
                                     tmp_path / "q.json"), "--qat-faithful")
    assert "num_bits = 32" in faithful  # the bias, quantized at run time
    simulated = compile_mlir(faithful, name="tosa_faithful").net
    got = simulated(*[dict(values, x=x)[a.name] for a in simulated.args])
    frozen = freeze_values(qat_opt, instrumented, dict(values, **qparams),
                           "net", tmp_path / "all.json")
    deployed = compile_mlir(qat_opt(frozen, "--qat-convert-to-integer"),
                            name="tosa_f_int").net(x)
    np.testing.assert_array_equal(got, deployed)
