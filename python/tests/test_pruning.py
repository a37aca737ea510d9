"""qat-prune (docs/Pruning.md): the masks against numpy's, no gradient for a
pruned weight, and a pruned QAT model deployed with its zeros."""

import numpy as np
import pytest

from qat import models, pipeline, workflow
from qat.onnx_import import import_onnx


def nm_mask(w, n, m, axis):
    """Keep the n largest |w| of every m consecutive along `axis`."""
    moved = np.moveaxis(np.abs(w), axis, 0)
    groups = moved.reshape(moved.shape[0] // m, m, -1)
    order = np.argsort(groups, axis=1, kind="stable")
    keep = np.zeros_like(groups, dtype=bool)
    np.put_along_axis(keep, order[:, m - n:, :], True, axis=1)
    return np.moveaxis(keep.reshape(moved.shape), 0, axis)


def magnitude_mask(w, sparsity):
    """Prune the floor(sparsity * numel) smallest |w|."""
    flat = np.abs(w).ravel()
    pruned = int(np.floor(sparsity * flat.size))
    keep = np.ones(flat.size, bool)
    keep[np.argsort(flat, kind="stable")[:pruned]] = False
    return keep.reshape(w.shape)


def block_mask(w, sparsity, block):
    """Prune whole blocks (K rows by N columns of a 2-D weight) of the
    smallest sums of |w|, summed in float32 in row-major order within the
    block; ties: the lower block index first."""
    k, n = block
    scores = np.zeros((w.shape[0] // k, w.shape[1] // n), np.float32)
    for i in range(k):
        for j in range(n):
            scores += np.abs(w[i::k, j::n]).astype(np.float32)
    keep_blocks = magnitude_mask(scores, sparsity)
    return np.repeat(np.repeat(keep_blocks, k, axis=0), n, axis=1)


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    import onnx
    folder = tmp_path_factory.mktemp("pruning")
    path = folder / "mlp.onnx"
    onnx.save(models.mlp(hidden=(32,), classes=4), path)
    return import_onnx(str(path), batch=16), folder


@pytest.mark.parametrize("option,mask", [
    ({"pattern": "2:4"}, lambda w: nm_mask(w, 2, 4, axis=0)),
    ({"sparsity": 0.75}, lambda w: magnitude_mask(w, 0.75)),
    ({"sparsity": 0.5, "block": "4x4"}, lambda w: block_mask(w, 0.5, (4, 4))),
])
def test_pruned_weights_get_no_gradient(mlp, option, mask):
    """Through the instrumented, pruned MLP's @gradients: every weight the
    numpy mask prunes has a gradient of exactly 0, the kept ones do not."""
    imported, folder = mlp
    text = workflow.instrument(pipeline.run(imported.text, "qat-prune",
                                            **option))
    trainer = workflow.Trainer(text, imported.params, str(folder),
                               "pruned_" + "_".join(option), split_step=True)
    rng = np.random.default_rng(0)
    x = rng.random((64, 784), dtype=np.float32)
    trainer.calibrate(x.reshape((64,) + trainer.input_shape[1:]), 4)
    entry = trainer.model.gradients
    input_name = next(a.name for a in entry.args
                      if a.name.startswith("input:"))
    out = pipeline.named_call(entry, trainer._values({
        input_name: x[:16].reshape(trainer.input_shape),
        "labels": rng.integers(0, 4, 16).astype(np.int32)}))
    for name in ("fc0.weight", "fc1.weight"):
        w = trainer.values[name]
        # The importer stores Gemm weights as [K, N]: rows are the
        # reduction axis.
        keep = mask(w)
        grad = out[f"grad:{name}"]
        assert np.all(grad[~keep] == 0), name
        # Not vacuous: many kept weights do get a gradient (dead ReLUs and
        # clipped fake-quants give some zeros).
        assert np.count_nonzero(grad[keep]) > 0.25 * keep.sum(), name


def test_pruned_model_deploys_its_zeros(mlp, tmp_path):
    """2:4, calibrated, frozen and converted: the frozen weights are the
    numpy-pruned ones, and the integer program agrees with the frozen
    simulation on every sample."""
    imported, _ = mlp
    text = workflow.instrument(pipeline.run(imported.text, "qat-prune",
                                            pattern="2:4"))
    trainer = workflow.Trainer(text, imported.params, str(tmp_path), "cal",
                               range_learning="none")
    rng = np.random.default_rng(1)
    x = rng.random((128, 1, 28, 28), dtype=np.float32)
    trainer.calibrate(x.reshape((128,) + trainer.input_shape[1:]), 8)
    function = workflow.forward_function(text)
    frozen = workflow.freeze(text, trainer.values, function)
    forward = frozen.split(f"func.func @{function}(")[1].split(
        "func.func @")[0]
    assert "qat.apply_mask" not in forward and "qat.prune_mask" not in forward
    integer = workflow.convert(frozen)
    sim = pipeline.load(frozen, str(tmp_path), "sim")[function]
    deployed = pipeline.load(integer, str(tmp_path), "int")[function]
    xs = x.reshape((128,) + tuple(sim.args[0].shape[1:]))
    a = workflow.predict(sim, {}, xs).argmax(1)
    b = workflow.predict(deployed, {}, xs).argmax(1)
    assert np.array_equal(a, b)
    # The frozen weights are the pruned constants: zero exactly where the
    # numpy mask prunes (MLIR prints large constants as raw hex).
    for name in ("fc0.weight", "fc1.weight"):
        w = imported.params[name]
        rows, cols = w.shape
        found = [c for c in constants(forward, f"{rows}x{cols}xf32")]
        assert len(found) == 1, name
        keep = nm_mask(w, 2, 4, axis=0)
        np.testing.assert_array_equal(found[0] != 0, keep)
        np.testing.assert_array_equal(found[0][keep], w[keep])


def constants(text, shape):
    """The f32 constants of type tensor<`shape`> in MLIR text, hex-coded."""
    import re
    dims = tuple(int(d) for d in shape.split("x")[:-1])
    for match in re.finditer(r'dense<"0x([0-9A-F]+)"> : tensor<' + shape +
                             ">", text):
        yield np.frombuffer(bytes.fromhex(match.group(1)),
                            "<f4").reshape(dims)


def scheduled_sparsity(t, final, begin, end, initial):
    """TF-MOT's PolynomialDecay in float32, as the train step computes it:
    s_f + (s_i - s_f)(1 - p)^3, p = clip((t - begin) / (end - begin))."""
    f = np.float32
    p = np.clip(f(t - begin) / f(end - begin), f(0), f(1))
    q = f(1) - p
    return f(final) + (f(initial) - f(final)) * (q * q * q)


def test_sparsity_schedule_recomputes_then_freezes(mlp, tmp_path):
    """Masks are training state: recomputed from the step's incoming weights
    at steps 2, 5, 8 and 10 (begin 2, every 3, and the end) at the
    scheduled sparsity, unchanged in between, frozen after step 10. With
    momentum and weight decay, no pruned weight and no pruned momentum is
    ever anything but 0 (no revival)."""
    imported, _ = mlp
    text = pipeline.run(imported.text, "qat-prune", sparsity=0.75)
    begin, end, every, initial = 2, 10, 3, 0.2
    trainer = workflow.Trainer(
        text, imported.params, str(tmp_path), "scheduled",
        momentum=0.9, weight_decay=1e-2,
        prune_schedule=workflow.PruneSchedule(begin, end, every, initial))
    rng = np.random.default_rng(3)
    batch = trainer.batch
    data = workflow.Split(
        rng.random((batch,) + trainer.input_shape[1:], dtype=np.float32),
        rng.integers(0, 4, batch).astype(np.int32))
    masks = {"fc0.weight": "mask:matmul_0", "fc1.weight": "mask:matmul_1"}
    previous = {m: np.ones_like(trainer.values[w], np.float32)
                for w, m in masks.items()}
    for t in range(1, 15):
        before = {w: trainer.values[w].copy() for w in masks}
        trainer.fit(data, 1, 0.05, seed=t)
        assert trainer.step == t
        recompute = begin <= t <= end and ((t - begin) % every == 0 or t == end)
        for w, m in masks.items():
            mask = trainer.values[m]
            assert set(np.unique(mask)) <= {0.0, 1.0}
            if recompute:
                s = scheduled_sparsity(t, 0.75, begin, end, initial)
                expected = magnitude_mask(before[w], s)
                np.testing.assert_array_equal(mask == 1, expected,
                                              err_msg=f"{m} at step {t}")
            else:
                np.testing.assert_array_equal(mask, previous[m],
                                              err_msg=f"{m} at step {t}")
            pruned = mask == 0
            assert np.all(trainer.values[w][pruned] == 0), (w, t)
            assert np.all(trainer.state[f"momentum:{w}"][pruned] == 0), (w, t)
            previous[m] = mask.copy()
    # The final sparsity is the target, 75% of each weight.
    for w, m in masks.items():
        assert np.count_nonzero(previous[m] == 0) == int(
            0.75 * previous[m].size), m
    # Before the schedule begins nothing is pruned; at its first step the
    # initial sparsity is (checked above through the masks).


def test_freeze_deploys_the_trained_mask(mlp, tmp_path):
    """qat-freeze uses the trained masks (`mask:<layer>` in the values), and
    refuses weights that are nonzero where a trained mask prunes."""
    imported, _ = mlp
    text = pipeline.run(imported.text, "qat-prune", sparsity=0.5)
    text = workflow.instrument(text)
    w0 = imported.params["fc0.weight"]
    # A mask that is not the magnitude mask of the weights: every other
    # element of the flattened weight.
    mask = (np.arange(w0.size) % 2 == 0).reshape(w0.shape).astype(np.float32)
    values = dict(imported.params)
    values["fc0.weight"] = w0 * mask
    trainer = workflow.Trainer(text, values, str(tmp_path), "cal",
                               range_learning="none")
    rng = np.random.default_rng(0)
    trainer.calibrate(rng.random((32,) + trainer.input_shape[1:],
                                 dtype=np.float32), 2)
    values = dict(trainer.values)
    values["mask:matmul_0"] = mask
    function = workflow.forward_function(text)
    frozen = workflow.freeze(text, values, function)
    forward = frozen.split(f"func.func @{function}(")[1].split(
        "func.func @")[0]
    # fc0 deploys the trained mask (not its magnitude mask), fc1 the
    # magnitude mask of its weight, computed at freezing.
    assert "qat.prune_mask" not in forward and "qat.apply_mask" not in forward
    rows, cols = w0.shape
    found = list(constants(forward, f"{rows}x{cols}xf32"))
    assert len(found) == 1
    np.testing.assert_array_equal(found[0] != 0, (mask == 1) & (w0 != 0))
    values["fc0.weight"] = w0  # nonzero where the mask prunes
    with pytest.raises(pipeline.ToolError,
                       match=r"layer 'matmul_0': \d+ weights are nonzero "
                             r"where its trained mask prunes them"):
        workflow.freeze(text, values, function)
    values["fc0.weight"] = w0 * mask
    values["mask:conv_9"] = mask
    with pytest.raises(pipeline.ToolError,
                       match="'mask:conv_9' names no pruned layer"):
        workflow.freeze(text, values, function)


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.75, 0.999])
def test_block_mask_compiled_matches_numpy(tmp_path, sparsity):
    """The lowered block mask (scores, an unstructured mask of them, spread
    back) against numpy's, 4x16 blocks of a 64x64 weight, every sparsity
    counted in whole blocks."""
    text = """
func.func @blocks(%w: tensor<64x64xf32>, %s: tensor<f32>) -> tensor<64x64xf32> {
  %keep = qat.prune_mask %w sparsity(%s : tensor<f32>) {block = array<i64: 4, 16>}
      : tensor<64x64xf32> -> tensor<64x64xi1>
  %ones = arith.constant dense<1.0> : tensor<64x64xf32>
  %m = qat.apply_mask %ones, %keep : tensor<64x64xf32>, tensor<64x64xi1>
  return %m : tensor<64x64xf32>
}
"""
    entry = pipeline.load(text, str(tmp_path), "blocks")["blocks"]
    rng = np.random.default_rng(int(sparsity * 1000))
    w = rng.standard_normal((64, 64)).astype(np.float32)
    got = entry(w, np.array(sparsity, np.float32))
    expected = block_mask(w, sparsity, (4, 16))
    np.testing.assert_array_equal(got == 1, expected)
    blocks = 64 // 4 * (64 // 16)
    assert np.count_nonzero(~expected) == 64 * int(sparsity * blocks)


def test_schedule_split_equals_train_step(mlp, tmp_path):
    """Under a schedule @advance_masks, @gradients and @apply_update are
    @train_step bit for bit (the split data-parallel training and
    --accumulate run), over steps that recompute the masks and steps that
    do not; and --accumulate 2 trains with the masks' invariants kept."""
    imported, _ = mlp
    text = pipeline.run(imported.text, "qat-prune", sparsity=0.5)
    schedule = workflow.PruneSchedule(1, 6, 2, 0.1)
    trainer = workflow.Trainer(text, imported.params, str(tmp_path), "split",
                               momentum=0.9, prune_schedule=schedule,
                               split_step=True)
    model = trainer.model
    rng = np.random.default_rng(7)
    input_name = next(a.name for a in model.train_step.args
                      if a.name.startswith("input:"))
    values = dict(trainer.values)
    state = dict(trainer.state)
    for step in range(1, 9):
        batch = {input_name: rng.random(tuple(trainer.input_shape),
                                        dtype=np.float32),
                 "labels": rng.integers(0, 4, trainer.batch).astype(np.int32),
                 "lr": np.array(0.05, np.float32),
                 "step": np.array(step, np.float32)}
        merged = dict(values, **state, **batch)
        whole = pipeline.named_call(model.train_step, merged)
        masks = pipeline.named_call(model.advance_masks, merged)
        merged.update(masks)
        grads = pipeline.named_call(model.gradients, merged)
        merged.update({k: v for k, v in grads.items() if k != "loss"})
        updated = pipeline.named_call(model.apply_update, merged)
        for name, value in list(masks.items()) + list(updated.items()):
            np.testing.assert_array_equal(whole[name], value,
                                          err_msg=f"{name} at step {step}")
        assert whole["loss"] == grads["loss"]
        for name, value in whole.items():
            kind, _, bare = name.partition(":")
            if kind == "param":
                values[bare] = value
            elif kind == "mask":
                values[name] = value
            elif name != "loss":
                state[name] = value
    accumulated = workflow.Trainer(text, imported.params, str(tmp_path),
                                   "split2", momentum=0.9, accumulate=2,
                                   prune_schedule=schedule)
    data = workflow.Split(
        rng.random((2 * accumulated.batch * 8,) +
                   tuple(accumulated.input_shape[1:]), dtype=np.float32),
        rng.integers(0, 4, 2 * accumulated.batch * 8).astype(np.int32))
    accumulated.fit(data, 1, 0.05)
    assert accumulated.step == 8
    for w, m in (("fc0.weight", "mask:matmul_0"), ("fc1.weight", "mask:matmul_1")):
        pruned = accumulated.values[m] == 0
        assert pruned.sum() == int(0.5 * pruned.size), m
        assert np.all(accumulated.values[w][pruned] == 0), w
