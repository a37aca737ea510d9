"""Range initialisers for low-bit QAT: Trainer.refine_scales (loss-aware
ranges) against a numpy reimplementation of its search over a numpy
reference of the instrumented network (python/tests/reference.py)."""

import numpy as np
import pytest

from qat import workflow
from qat.data import Split
from reference import fake_quant

F32 = np.float32
BATCH, K, N = 16, 8, 4

# One fully connected layer with a bias: at 4 bits qat-instrument puts an
# unsigned affine fake-quant on the input, a symmetric narrow per-channel
# one on the weight and an unsigned affine one on the biased output.
LINEAR = f"""
#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>
func.func @linear(%x: tensor<{BATCH}x{K}xf32> {{qat.name = "x"}},
    %w: tensor<{K}x{N}xf32> {{qat.name = "w"}},
    %b: tensor<{N}xf32> {{qat.name = "b"}}) -> tensor<{BATCH}x{N}xf32> {{
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<{BATCH}x{N}xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<{BATCH}x{N}xf32>) -> tensor<{BATCH}x{N}xf32>
  %y = linalg.matmul ins(%x, %w : tensor<{BATCH}x{K}xf32>, tensor<{K}x{N}xf32>)
      outs(%f : tensor<{BATCH}x{N}xf32>) -> tensor<{BATCH}x{N}xf32>
  %yb = linalg.generic {{indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}}
      ins(%y, %b : tensor<{BATCH}x{N}xf32>, tensor<{N}xf32>) outs(%e : tensor<{BATCH}x{N}xf32>) {{
  ^bb0(%a: f32, %c: f32, %o: f32):
    %s = arith.addf %a, %c : f32
    linalg.yield %s : f32
  }} -> tensor<{BATCH}x{N}xf32>
  return %yb : tensor<{BATCH}x{N}xf32>
}}
"""


def reference_loss(values, x, y, bits=4):
    def act(name, v):
        return fake_quant(v, values[f"{name}.act_scale"],
                          values[f"{name}.act_zero_point"], bits, False)
    scale = values["matmul_0.weight_scale"]
    w = fake_quant(values["w"], scale, np.zeros(scale.shape, np.int32), bits,
                   True, narrow=True, axis=1)
    logits = act("matmul_0", (act("x", x) @ w + values["b"]).astype(F32))
    logits = logits.astype(np.float64)
    top = logits.max(1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(logits - top).sum(1))
    return float(np.mean(lse - logits[np.arange(len(y)), y]))


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    rng = np.random.default_rng(7)
    teacher = rng.standard_normal((K, N)).astype(F32)
    x = rng.random((8 * BATCH, K), dtype=F32)
    # One outlying input feature: min/max calibration spends most of the
    # 16 levels on it.
    x[::17, 3] *= 6
    y = (x @ teacher).argmax(1).astype(np.int32)
    values = {"w": (teacher + 0.3 * rng.standard_normal((K, N))).astype(F32),
              "b": np.zeros(N, F32)}
    values["w"][0, 1] = 4.0  # an outlying weight too
    text = workflow.instrument(LINEAR, 4, 4)
    trainer = workflow.Trainer(text, values,
                               str(tmp_path_factory.mktemp("ranges")), "lin")
    trainer.calibrate(x, 8)
    return trainer, Split(x, y)


def test_refine_scales_follows_the_numpy_search(problem):
    """One sweep: each scale takes the factor numpy's loss prefers, in the
    documented order, and the loss reported is numpy's at the result."""
    trainer, data = problem
    start = dict(trainer.values)
    scales = [a.name.partition(":")[2] for a in trainer.model.eval_step.args
              if a.name.startswith("qparam:") and a.name.endswith("_scale")]
    assert sorted(scales) == ["matmul_0.act_scale", "matmul_0.weight_scale",
                              "x.act_scale"]

    expected = dict(start)
    best = before = reference_loss(expected, data.x, data.y)
    for name in scales:
        base, chosen = expected[name], None
        for factor in workflow.REFINE_FACTORS:
            expected[name] = (base * F32(factor)).astype(F32)
            loss = reference_loss(expected, data.x, data.y)
            if loss < best * (1 - 1e-6):
                best, chosen = loss, expected[name]
        expected[name] = base if chosen is None else chosen

    got_before, got_after = trainer.refine_scales(data, batches=8, rounds=1)
    assert got_before == pytest.approx(before, rel=1e-5)
    assert got_after == pytest.approx(best, rel=1e-5)
    assert got_after < got_before
    for name in scales:
        np.testing.assert_array_equal(trainer.values[name], expected[name],
                                      err_msg=name)
    # Not vacuous: the outliers make clipping pay on the input and weight.
    assert not np.array_equal(expected["x.act_scale"], start["x.act_scale"])
    assert not np.array_equal(expected["matmul_0.weight_scale"],
                              start["matmul_0.weight_scale"])
    # Zero points and weights stay as they were.
    for name, value in start.items():
        if name not in scales:
            np.testing.assert_array_equal(trainer.values[name], value)
    trainer.values = start


def test_refine_scales_rejects_too_little_data(problem):
    trainer, data = problem
    with pytest.raises(ValueError, match="at least 16 samples, got 3"):
        trainer.refine_scales(Split(data.x[:3], data.y[:3]))
