"""Mixed-precision search (qat.search): the choice against brute force,
sizes against the converter's constants, layers read from instrumented
IR."""

import itertools
import re

import numpy as np
import pytest

from qat import models, pipeline, search, workflow
from qat.onnx_import import import_onnx

LAYERS = [search.Layer("a", (784, 256), 256), search.Layer("b", (256, 128), 128),
          search.Layer("c", (3, 3, 16, 32), 32), search.Layer("d", (128, 10), 10),
          search.Layer("e", (64, 6), 6)]
WIDTHS = (8, 4, 2)


def brute_force(layers, cost, budget):
    """(lowest summed cost, its bytes) over every combination, by numpy
    sums of independently computed sizes."""
    best = (np.inf, None)
    for combo in itertools.product(WIDTHS, repeat=len(layers)):
        size = 0
        for layer, bits in zip(layers, combo):
            numel = int(np.prod(layer.shape))
            per = 4 if bits == 2 and numel % 4 == 0 else \
                2 if bits <= 4 and numel % 2 == 0 else 1
            size += numel // per + 4 * layer.bias
        if size > budget:
            continue
        total = sum(cost[(l.name, b)] for l, b in zip(layers, combo)
                    if b != 8)
        best = min(best, (total, size), key=lambda t: t[0])
    return best


@pytest.mark.parametrize("seed", range(4))
def test_choose_is_the_cheapest_within_the_budget(seed):
    rng = np.random.default_rng(seed)
    cost = {}
    for layer in LAYERS:
        four = float(rng.random())
        cost[(layer.name, 4)] = four
        cost[(layer.name, 2)] = four + float(rng.random())
    full = search.weight_bytes(LAYERS, {l.name: 8 for l in LAYERS})
    for fraction in (1.0, 0.7, 0.55, 0.4):
        budget = int(fraction * full)
        expected, _ = brute_force(LAYERS, cost, budget)
        bits = search.choose(LAYERS, cost, WIDTHS, budget)
        if expected == np.inf:
            assert bits is None
            continue
        assert search.weight_bytes(LAYERS, bits) <= budget
        got = sum(cost.get((n, b), 0.0) for n, b in bits.items())
        assert got == pytest.approx(expected)



@pytest.mark.parametrize("exhaustive", [True, False])
def test_choose_under_a_latency_budget(monkeypatch, exhaustive):
    """A Latency model as the measure (4-bit layers slower, 2-bit faster,
    as measured on the CPU kernels): the choice is within the predicted
    budget and, exhaustively, the cheapest combination that is (brute
    force here); greedily, within budget and never below the optimum."""
    if not exhaustive:
        monkeypatch.setattr(search, "EXHAUSTIVE_LIMIT", 0)
    rng = np.random.default_rng(3)
    cost = {(l.name, b): float(rng.random()) * (9 - b)
            for l in LAYERS for b in (4, 2)}
    delta = {(l.name, b): float(rng.normal(0.0, 2e-6)) for l in LAYERS
             for b in (4, 2)}
    latency = search.Latency(20e-6, delta)
    everything = []
    for combo in itertools.product(WIDTHS, repeat=len(LAYERS)):
        bits = {l.name: b for l, b in zip(LAYERS, combo)}
        seconds = 20e-6 + sum(delta.get(k, 0.0) for k in bits.items())
        assert latency.predict(bits) == pytest.approx(seconds)
        everything.append((seconds, sum(cost.get(k, 0.0)
                                        for k in bits.items())))
    for budget in sorted(s for s, _ in everything)[::40]:
        bits = search.choose(LAYERS, cost, WIDTHS, budget, latency.predict)
        optimum = min(c for s, c in everything if s <= budget)
        if bits is None:
            assert not exhaustive
            continue
        assert latency.predict(bits) <= budget
        got = sum(cost.get(k, 0.0) for k in bits.items())
        if exhaustive:
            assert got == pytest.approx(optimum)
        else:
            assert got >= optimum - 1e-12
    front = search.pareto_front(LAYERS, cost, WIDTHS, latency.predict)
    assert all(a[0] < b[0] and a[1] > b[1] for a, b in zip(front, front[1:]))

def test_greedy_choice_respects_the_budget(monkeypatch):
    """Beyond EXHAUSTIVE_LIMIT combinations the greedy path: within the
    budget, never better than the optimum, and the front it traces is
    sorted and strictly improving."""
    monkeypatch.setattr(search, "EXHAUSTIVE_LIMIT", 0)
    rng = np.random.default_rng(9)
    cost = {(l.name, b): float(rng.random()) * (9 - b)
            for l in LAYERS for b in (4, 2)}
    full = search.weight_bytes(LAYERS, {l.name: 8 for l in LAYERS})
    for fraction in (0.9, 0.6, 0.52, 0.5):
        budget = int(fraction * full)
        bits = search.choose(LAYERS, cost, WIDTHS, budget)
        optimum, _ = brute_force(LAYERS, cost, budget)
        if bits is None:  # all at 4 bits is 51% of all at 8
            assert optimum == np.inf and fraction == 0.5
            continue
        assert search.weight_bytes(LAYERS, bits) <= budget
        assert sum(cost.get((n, b), 0.0) for n, b in bits.items()) >= \
            optimum - 1e-12
    assert search.choose(LAYERS, cost, WIDTHS, 10) is None
    front = search.pareto_front(LAYERS, cost, WIDTHS)
    sizes = [p[0] for p in front]
    losses = [p[1] for p in front]
    assert sizes == sorted(sizes) and all(
        a > b for a, b in zip(losses, losses[1:]))


def test_front_points_are_not_dominated():
    rng = np.random.default_rng(3)
    cost = {(l.name, b): float(rng.random()) * (9 - b)
            for l in LAYERS for b in (4, 2)}
    front = search.pareto_front(LAYERS, cost, WIDTHS)
    everything = []
    for combo in itertools.product(WIDTHS, repeat=len(LAYERS)):
        bits = {l.name: b for l, b in zip(LAYERS, combo)}
        everything.append((search.weight_bytes(LAYERS, bits),
                           sum(cost.get((n, b), 0.0)
                               for n, b in bits.items())))
    for size, loss, _ in front:
        assert not any(s <= size and l < loss - 1e-12 or
                       s < size and l <= loss - 1e-12
                       for s, l in everything)
    # Every combination is matched or beaten by a front point.
    for s, l in everything:
        assert any(fs <= s and fl <= l + 1e-12 for fs, fl, _ in front)


def test_sizes_match_the_converted_constants(tmp_path):
    """layers_of reads each layer's weight shape from the instrumented IR;
    code_bytes equals the bytes of the weight constants
    qat-convert-to-integer emits: four codes per byte at 2 bits (3x3x6x8
    codes), two at 2 bits when the count is not a multiple of 4 (3x3x1x6)
    and at 4 bits, one at 8."""
    imported = import_onnx(models.cnn(channels=(6, 8, 12)), batch=4,
                           name="cnn")
    config = str(tmp_path / "mixed.json")
    bits = {"conv_0": 2, "conv_1": 2, "conv_2": 8, "matmul_0": 4}
    search.write_config(config, bits)
    text = workflow.instrument(imported.text, 8, 8, config)
    layers = search.layers_of(text)
    assert [l.name for l in layers] == ["conv_0", "conv_1", "conv_2",
                                        "matmul_0"]
    assert [l.bias for l in layers] == [6, 8, 12, 10]
    trainer = workflow.Trainer(text, imported.params, str(tmp_path), "cal",
                               range_learning="none",
                               functions=("calibrate", "qparams"))
    rng = np.random.default_rng(0)
    trainer.calibrate(rng.random((8, 1, 28, 28), dtype=np.float32), 2)
    integer = workflow.convert(workflow.freeze(text, trainer.values, "cnn"))
    # Weight constants: the i8 tensors that are not splats (packed ones
    # are 1-D bytes; biases are i32).
    constants = [tuple(int(d) for d in shape.split("x"))
                 for shape in re.findall(
                     r"arith\.constant dense<[\"\[][^\n]*: "
                     r"tensor<((?:\d+x)*\d+)xi8>", integer)]
    stored = sorted(int(np.prod(s)) for s in constants)
    expected = sorted(search.code_bytes(l.shape, bits[l.name])
                      for l in layers)
    assert stored == expected, (constants, layers)
    assert search.weight_bytes(layers, bits) == sum(expected) + 4 * 36
    assert search.code_bytes(layers[0].shape, 2) * 2 == \
        int(np.prod(layers[0].shape))
    assert search.code_bytes(layers[1].shape, 2) * 4 == \
        int(np.prod(layers[1].shape))


def test_config_for_round_trips_through_instrument(tmp_path):
    imported = import_onnx(models.mlp(hidden=(16,), classes=4), batch=2,
                           name="mlp")
    config = search.write_config(str(tmp_path / "c.json"),
                                 {"matmul_0": 2, "matmul_1": 8})
    plan = str(tmp_path / "plan.txt")
    workflow.instrument(imported.text, 8, 8, config, report=plan,
                        dry_run=True)
    text = open(plan).read()
    assert re.search(r"layer matmul_0 \(linalg.matmul\): weight 2-bit", text)
    assert re.search(r"layer matmul_1 \(linalg.matmul\): weight 8-bit", text)
