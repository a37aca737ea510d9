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
])
def test_pruned_weights_get_no_gradient(mlp, option, mask):
    """Through the instrumented, pruned MLP's @gradients: every weight the
    numpy mask prunes has a gradient of exactly 0, the kept ones do not."""
    imported, folder = mlp
    text = workflow.instrument(pipeline.run(imported.text, "qat-prune",
                                            **option))
    trainer = workflow.Trainer(text, imported.params, str(folder),
                               "pruned_" + "_".join(option))
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
