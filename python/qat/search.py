"""Mixed precision: bits per layer under a model-size budget
(`python3 -m qat search`, docs/Training.md).

1. Sensitivity, measured: for each layer and each candidate weight width
   below the widest, the network with only that layer narrowed is
   calibrated (min/max, then loss-aware scales: Trainer.refine_scales) and
   its loss on held-out labelled batches compared with the all-widest
   network's. The loss change of a layer at a width is its sensitivity.
2. Choice: the widths that minimise the summed sensitivities with the
   weights' stored size, or the predicted batch-1 latency (`Latency`: the
   deployed program's, measured with each layer narrowed alone, the
   changes summed), within the budget (`choose`: exact over all
   combinations up to EXHAUSTIVE_LIMIT of them, else greedy by loss per
   byte or second saved).
3. The Pareto front of that model (size against predicted loss change),
   and on request QAT of its points: deployed accuracy against size, as a
   table and a plot.

Sizes are the deployed library's weight bytes (`code_bytes`: one byte per
code, two per byte at 4 bits, four at 2, as qat-convert-to-integer's
pack-int4 stores them), 4 bytes per bias value.
"""

import itertools
import json
import re
from typing import (Callable, Dict, List, NamedTuple, Optional, Sequence,
                    Tuple)

import numpy as np

from qat import pipeline, workflow
from qat.data import Split

#: Up to this many combinations of widths, `choose` tries them all.
EXHAUSTIVE_LIMIT = 1 << 16


class Layer(NamedTuple):
    name: str
    shape: Tuple[int, ...]  # the weight as the layer reads it
    bias: int               # bias values (int32 each when deployed)


def code_bytes(shape: Sequence[int], bits: Optional[int]) -> int:
    """Stored bytes of a weight of `shape` at `bits` (None: fp32, four
    bytes a value), as qat-convert-to-integer's pack-int4 stores it (the
    flattened codes, choosePackedBits): four codes per byte at 2 bits when
    the element count is a multiple of 4, two per byte at 4 bits or fewer
    when it is even, else one byte per code."""
    numel = int(np.prod(shape))
    if bits is None:
        return 4 * numel
    if bits <= 2 and numel % 4 == 0:
        return numel // 4
    if bits <= 4 and numel % 2 == 0:
        return numel // 2
    return numel


def layers_of(instrumented: str) -> List[Layer]:
    """The weight layers of the first function of an instrumented module, in
    program order: each weight fake-quant's operand shape, named by its
    scale (`<layer>.weight_scale`); the bias is one value per output
    channel (the scale's length; 1 when per tensor)."""
    signature = instrumented[instrumented.index("func.func @"):]
    signature = signature[:signature.index("{\n")]
    names = dict(re.findall(r'(%arg\d+): [^{]*\{qat\.name = "([^"]+)"',
                            signature))
    layers = []
    for match in re.finditer(
            r"qat\.fake_quant %[\w.#]+, (%arg\d+), [^\n]*?: "
            r"tensor<((?:\d+x)+)f32>, tensor<((?:\d+x)*)f32>", instrumented):
        name = names.get(match.group(1), "")
        if not name.endswith(".weight_scale"):
            continue
        shape = tuple(int(d) for d in match.group(2).rstrip("x").split("x"))
        channels = match.group(3).rstrip("x")
        layers.append(Layer(name[:-len(".weight_scale")], shape,
                            int(channels) if channels else 1))
    return layers


def input_shape(text: str) -> Tuple[int, ...]:
    """The static shape of the first argument of the first function."""
    match = re.search(r"func\.func @[\w.$-]+\(%\w+: tensor<((?:\d+x)+)f32>",
                      text)
    if not match:
        raise pipeline.ToolError("the model's first argument is not a "
                                 "static f32 tensor")
    return tuple(int(d) for d in match.group(1).rstrip("x").split("x"))


def weight_bytes(layers: Sequence[Layer], bits: Dict[str, int]) -> int:
    """Deployed weight bytes with `bits` per layer, biases included."""
    return sum(code_bytes(layer.shape, bits[layer.name]) + 4 * layer.bias
               for layer in layers)


class Latency(NamedTuple):
    """Predicted batch-1 latency of the deployed program: `base` seconds
    with every layer at the widest width, plus `delta[(layer, bits)]` for
    each layer at a narrower one (measured with that layer alone
    narrowed)."""
    base: float
    delta: Dict[Tuple[str, int], float]

    def predict(self, bits: Dict[str, int]) -> float:
        return self.base + sum(self.delta.get(k, 0.0) for k in bits.items())


#: What a budget limits: the widths' weight bytes, predicted seconds, ...
Measure = Callable[[Dict[str, int]], float]


def size_measure(layers: Sequence[Layer]) -> Measure:
    """The widths' deployed weight bytes (weight_bytes) as a Measure."""
    return lambda bits: weight_bytes(layers, bits)


def predicted_loss(cost: Dict[Tuple[str, int], float],
                   bits: Dict[str, int]) -> float:
    """The summed sensitivities of `bits` (the widest width costs 0)."""
    return sum(cost.get(k, 0.0) for k in bits.items())


def combinations(layers: Sequence[Layer], widths: Sequence[int]):
    """Every assignment of `widths` to `layers`, as {layer: bits}."""
    for combo in itertools.product(widths, repeat=len(layers)):
        yield {layer.name: b for layer, b in zip(layers, combo)}


def choose(layers: Sequence[Layer], cost: Dict[Tuple[str, int], float],
           widths: Sequence[int], budget: float,
           measure: Optional[Measure] = None) -> Optional[Dict[str, int]]:
    """Widths per layer minimising the summed `cost[(layer, bits)]` (the
    widest width costs 0) with `measure` (default weight_bytes) within
    `budget`; None when even the narrowest widths exceed it. Exact over
    every combination when there are at most EXHAUSTIVE_LIMIT, else
    greedy: from the widest, narrow the layer with the least cost per unit
    of the measure saved until within budget."""
    widths = sorted(set(widths), reverse=True)
    measure = measure or size_measure(layers)
    if len(widths) ** len(layers) <= EXHAUSTIVE_LIMIT:
        best, best_cost = None, np.inf
        for bits in combinations(layers, widths):
            if measure(bits) > budget:
                continue
            c = predicted_loss(cost, bits)
            if c < best_cost:
                best, best_cost = bits, c
        return best
    bits = {layer.name: widths[0] for layer in layers}
    while measure(bits) > budget:
        moves = []
        for layer in layers:
            at = widths.index(bits[layer.name])
            if at + 1 == len(widths):
                continue
            narrower = widths[at + 1]
            saved = measure(bits) - measure(dict(bits,
                                                 **{layer.name: narrower}))
            if saved <= 0:
                continue
            extra = (cost.get((layer.name, narrower), 0.0) -
                     cost.get((layer.name, bits[layer.name]), 0.0))
            moves.append((extra / saved, layer.name, narrower))
        if not moves:
            return None
        _, name, narrower = min(moves)
        bits[name] = narrower
    return bits


def pareto_front(layers: Sequence[Layer], cost: Dict[Tuple[str, int], float],
                 widths: Sequence[int], measure: Optional[Measure] = None
                 ) -> List[Tuple[float, float, Dict[str, int]]]:
    """(measure, predicted loss change, widths) of every combination no
    other beats on both, smallest first (`measure` as for `choose`); over
    all combinations up to EXHAUSTIVE_LIMIT, else the greedy path from the
    widest."""
    widths = sorted(set(widths), reverse=True)
    measure = measure or size_measure(layers)
    if len(widths) ** len(layers) <= EXHAUSTIVE_LIMIT:
        points = [(measure(bits), predicted_loss(cost, bits), bits)
                  for bits in combinations(layers, widths)]
    else:
        points, budget = [], measure(
            {layer.name: widths[0] for layer in layers})
        while True:
            bits = choose(layers, cost, widths, budget, measure)
            if bits is None:
                break
            size = measure(bits)
            points.append((size, predicted_loss(cost, bits), bits))
            budget = np.nextafter(size, -np.inf)
    points.sort(key=lambda p: (p[0], p[1]))
    front, best = [], np.inf
    for size, loss, bits in points:
        if loss < best:
            front.append((size, loss, bits))
            best = loss
    return front


def front_with(layers: Sequence[Layer], cost: Dict[Tuple[str, int], float],
               widths: Sequence[int], chosen: Dict[str, int],
               measure: Optional[Measure] = None
               ) -> List[Tuple[float, float, Dict[str, int]]]:
    """pareto_front, with `chosen` in its place when a front point of the
    same measure and predicted loss stood for it (a tie)."""
    measure = measure or size_measure(layers)
    front = pareto_front(layers, cost, widths, measure)
    if all(p[2] != chosen for p in front):
        front = sorted(front + [(measure(chosen), predicted_loss(cost, chosen),
                                 chosen)], key=lambda p: (p[0], p[1]))
    return front


def config_for(bits: Dict[str, int]) -> dict:
    """The instrument config (docs/Instrumentation.md) of `bits`."""
    return {"layers": [{"name": name, "weight_bits": b}
                       for name, b in bits.items()]}


def write_config(path: str, bits: Dict[str, int]) -> str:
    with pipeline.replacing(path) as f:
        json.dump(config_for(bits), f, indent=1)
    return path


class Sensitivity(NamedTuple):
    layers: List[Layer]
    base_loss: float                       # all layers at the widest width
    cost: Dict[Tuple[str, int], float]     # (layer, bits) -> loss change
    latency: Optional[Latency] = None      # when measured


def sensitivities(text: str, values: Dict[str, np.ndarray], data: Split,
                  widths: Sequence[int], act_bits: int, workdir: str,
                  calibrate_batches: int = 16, loss_batches: int = 16,
                  progress: bool = False, last_act_bits: Optional[int] = None,
                  latency: bool = False, log=print) -> Sensitivity:
    """The loss change of each layer at each narrower width of the float
    network `text` with trained `values`, measured as the module docstring
    says: calibration on the first batches of `data`, the loss on the
    batches after them. With `latency`, also each variant's deployed
    batch-1 latency (frozen, converted, compiled; timed by
    `interleaved_latency`): the Latency model."""
    import os
    widest = max(widths)
    single = workflow.with_batch(text, 1) if latency else None

    def measure(config: Optional[str], tag: str):
        """(instrumented text, loss, the deployed batch-1 entry or None)."""
        q_text = workflow.instrument(text, widest, act_bits, config,
                                     last_act_bits=last_act_bits)
        trainer = workflow.Trainer(q_text, values, workdir, tag,
                                   range_learning="none",
                                   functions=("calibrate", "qparams",
                                              "eval_step"))
        trainer.calibrate(data.x, calibrate_batches)
        trainer.refine_scales(data, batches=calibrate_batches, rounds=1)
        start = calibrate_batches * trainer.batch
        held = Split(data.x[start:start + loss_batches * trainer.batch],
                     data.y[start:start + loss_batches * trainer.batch])
        entry = None
        if latency:
            fn = workflow.forward_function(q_text)
            deployed = workflow.convert(workflow.freeze(workflow.instrument(
                single, widest, act_bits, config,
                last_act_bits=last_act_bits), trainer.values, fn))
            entry = pipeline.load(deployed, workdir, tag + "_b1")[fn]
        return q_text, trainer.loss(held, loss_batches), entry

    q_text, base, base_entry = measure(None, "search_base")
    layers = layers_of(q_text)
    cost, entries = {}, {}
    for layer in layers:
        for bits in sorted(set(widths), reverse=True)[1:]:
            config = os.path.join(workdir, f"search_{layer.name}_{bits}.json")
            write_config(config, {layer.name: bits})
            _, loss, entries[(layer.name, bits)] = measure(
                config, f"search_{layer.name}_{bits}")
            cost[(layer.name, bits)] = loss - base
            log(f"  {layer.name} at {bits} bits: loss {loss:.4f} "
                f"({loss - base:+.4f})")
    if not latency:
        return Sensitivity(layers, base, cost)
    keys = list(entries)
    seconds = interleaved_latency([base_entry] + [entries[k] for k in keys],
                                  data.x)
    delta = {k: s - seconds[0] for k, s in zip(keys, seconds[1:])}
    log(f"  batch-1 latency, all at {widest} bits: {1e6 * seconds[0]:.1f} us; " +
        ", ".join(f"{n} at {b}: {1e6 * d:+.1f}" for (n, b), d in
                  delta.items()))
    return Sensitivity(layers, base, cost, Latency(seconds[0], delta))


def interleaved_latency(entries: Sequence, x: np.ndarray, rounds: int = 15,
                        calls: int = 40) -> List[float]:
    """Median seconds per call of each of `entries` on one batch of `x`:
    `rounds` rounds that each time every entry in turn (`calls` calls,
    their median), the median over the rounds; so that a drift of the
    machine's speed meets every entry alike."""
    import time
    prepared = []
    for entry in entries:
        info = entry.args[0]
        args = pipeline.arguments(entry, {info.name: np.ascontiguousarray(
            x[:info.shape[0]])})
        for _ in range(10):
            entry(*args)
        prepared.append((entry, args))
    medians = [[] for _ in entries]
    for _ in range(rounds):
        for k, (entry, args) in enumerate(prepared):
            times = []
            for _ in range(calls):
                t = time.perf_counter()
                entry(*args)
                times.append(time.perf_counter() - t)
            medians[k].append(float(np.median(times)))
    return [float(np.median(m)) for m in medians]


class Point(NamedTuple):
    """A trained front point: its widths, size and deployed accuracy."""
    bits: Dict[str, int]
    weight_bytes: int
    predicted: float        # the summed sensitivities
    accuracy: Optional[float] = None
    flips: Optional[int] = None


def train_point(text: str, values: Dict[str, np.ndarray], bits: Dict[str, int],
                act_bits: int, train: Split, test: Split, epochs: float,
                lr: float, workdir: str, tag: str,
                last_act_bits: Optional[int] = None,
                progress: bool = False,
                teacher: Optional[str] = None) -> Tuple[float, int]:
    """QAT of `text` at `bits` per layer (loss-aware initial scales, Adam
    at `lr`; distilled from `teacher`, a workflow.teacher_file, when
    given), frozen and converted: (deployed accuracy on `test`,
    simulation/deployment flips)."""
    import os
    config = write_config(os.path.join(workdir, f"{tag}.json"), bits)
    q_text = workflow.instrument(text, max(bits.values()), act_bits, config,
                                 last_act_bits=last_act_bits)
    trainer = workflow.Trainer(q_text, values, workdir, tag,
                               optimizer="adam", teacher=teacher)
    trainer.calibrate(train.x)
    trainer.refine_scales(train)
    if epochs > 0:
        trainer.fit(train, epochs, lr, progress=progress, desc=tag)
    fn = workflow.forward_function(q_text)
    frozen = workflow.freeze(q_text, trainer.values, fn)
    simulated = workflow.classes(workflow.predict(
        pipeline.load(frozen, workdir, tag + "_sim")[fn], {}, test.x))
    deployed = workflow.classes(workflow.predict(
        pipeline.load(workflow.convert(frozen), workdir, tag + "_int")[fn],
        {}, test.x))
    return (float((deployed == test.y).mean()),
            int(np.count_nonzero(simulated != deployed)))


def spread(front: Sequence, count: int, chosen: Optional[int] = None) -> List:
    """At most `count` points of `front`, evenly spaced, its ends and the
    point at index `chosen` included."""
    if count <= 0 or not front:
        return []
    picks = set(np.linspace(0, len(front) - 1, min(count, len(front)))
                .round().astype(int).tolist())
    if chosen is not None:
        picks.add(chosen)
    return [front[i] for i in sorted(picks)]


def write_report(out_dir: str, layers: Sequence[Layer], base_loss: float,
                 cost: Dict[Tuple[str, int], float], widths: Sequence[int],
                 budget: float, chosen: Dict[str, int], points: List[Point],
                 reference: Optional[Tuple[int, float]] = None,
                 plot: bool = True, latency: Optional[Latency] = None
                 ) -> str:
    """search.md (sensitivities, the chosen widths, the front) and
    pareto.png in `out_dir`; returns the report's path. `budget`: weight
    bytes, or with `latency` (the budget is then on it) seconds.
    `reference`: the all-widest network's (bytes, deployed accuracy) when
    trained."""
    import os
    widest = max(widths)
    narrower = sorted(set(widths), reverse=True)[1:]
    all_widest = {l.name: widest for l in layers}

    def us(bits):
        return f"{1e6 * latency.predict(bits):.1f}"

    limit = (f"{1e6 * budget:.1f} us of predicted batch-1 latency" if latency
             else f"{budget / 1024:.1f} KiB of weights")
    lines = ["# Mixed-precision search", "",
             f"Budget {limit}; all layers at {widest} bits: "
             f"{weight_bytes(layers, all_widest) / 1024:.1f} KiB" +
             (f", {us(all_widest)} us" if latency else "") +
             f", loss {base_loss:.4f}.", "",
             "## Sensitivity (loss change with one layer narrowed" +
             ("; batch-1 latency change, us" if latency else "") + ")", "",
             "| layer | weight shape | " +
             " | ".join(f"{b} bits" for b in narrower) + " |",
             "|---|---|" + "---|" * len(narrower)]
    for layer in layers:
        cells = []
        for b in narrower:
            cell = f"{cost[(layer.name, b)]:+.4f}"
            if latency:
                cell += f"; {1e6 * latency.delta[(layer.name, b)]:+.1f}"
            cells.append(cell)
        lines.append(f"| {layer.name} | {'x'.join(map(str, layer.shape))} | " +
                     " | ".join(cells) + " |")
    lines += ["", "## Chosen", "",
              "| layer | weight bits |", "|---|---|"]
    lines += [f"| {name} | {b} |" for name, b in chosen.items()]
    lines += ["", f"{weight_bytes(layers, chosen) / 1024:.1f} KiB of weights" +
              (f", {us(chosen)} us predicted" if latency else "") + ".",
              "", "## Pareto front", "",
              "| weights (KiB) | " +
              ("predicted latency (us) | " if latency else "") +
              "widths | predicted loss change | "
              "deployed accuracy | sim/deploy flips |",
              "|---|---|---|---|---|" + ("---|" if latency else "")]
    for p in points:
        acc = "-" if p.accuracy is None else f"{100 * p.accuracy:.2f}%"
        flips = "-" if p.flips is None else str(p.flips)
        mark = " (chosen)" if p.bits == chosen else ""
        lines.append(f"| {p.weight_bytes / 1024:.1f} | " +
                     (f"{us(p.bits)} | " if latency else "") +
                     f"{', '.join(str(b) for b in p.bits.values())}{mark} | "
                     f"{p.predicted:+.4f} | {acc} | {flips} |")
    if reference:
        lines += ["", f"All layers at {widest} bits, trained the same way: "
                  f"{reference[0] / 1024:.1f} KiB, {100 * reference[1]:.2f}%."]
    if plot and points:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from qat.report import _save

        def x_of(p):
            return (1e6 * latency.predict(p.bits) if latency
                    else p.weight_bytes / 1024)
        trained = [p for p in points if p.accuracy is not None]
        fig, ax = plt.subplots(figsize=(6, 4))
        if trained:
            ax.plot([x_of(p) for p in trained],
                    [100 * p.accuracy for p in trained], "o-",
                    label="front, QAT deployed")
            ax.set_ylabel("deployed accuracy (%)")
        else:
            ax.plot([x_of(p) for p in points],
                    [p.predicted for p in points], "o-",
                    label="front (predicted)")
            ax.set_ylabel("predicted loss change")
        if reference:
            ax.axhline(100 * reference[1], color="gray", ls="--",
                       label=f"all {widest}-bit")
        ax.axvline(1e6 * budget if latency else budget / 1024, color="red",
                   ls=":", label="budget")
        ax.set_xlabel("predicted batch-1 latency (us)" if latency
                      else "weights (KiB)")
        ax.legend()
        images = []
        _save(fig, out_dir, "pareto.png", "Pareto front", images)
        lines += ["", "![Pareto front](pareto.png)"]
    path = os.path.join(out_dir, "search.md")
    with pipeline.replacing(path) as f:
        f.write("\n".join(lines) + "\n")
    return path
