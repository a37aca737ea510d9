"""The differential checker: a QAT function and its integer conversion, run on
the same inputs, compared layer by layer.

Both programs are compiled after `qat-opt --qat-expose-layers`, which returns
every layer's quantized output as `layer:<name>`. The first layer whose
outputs differ is where simulation and deployment diverge; differences are
counted in steps of that layer's output grid.

    /usr/bin/python3 -m qat.check libsim.so libint.so inputs.npz [--entry net]
"""

import argparse
import sys
from typing import List, NamedTuple

import numpy as np

from qat.runtime import Model
from qat.workflow import classes


class LayerDifference(NamedTuple):
    layer: str
    elements: int
    differing: int
    max_steps: float  # largest difference, in steps of the output grid
    step: float


def _step(values: np.ndarray) -> float:
    """The grid step of quantized `values`: the smallest gap between two
    distinct values (0 when all are equal)."""
    unique = np.unique(values)
    gaps = np.diff(unique)
    return float(gaps[gaps > 0].min()) if gaps.size else 0.0


class OutputDifference(NamedTuple):
    output: str
    elements: int
    differing: int
    max_difference: float
    argmax_agreement: float  # fraction of rows with the same arg-max (2-D)
    rows: int = 0  # rows compared (2-D outputs)
    flips: int = 0  # rows whose arg-max differs


def _results(entry, inputs):
    out = entry(*inputs)
    out = out if isinstance(out, tuple) else (out,)
    return {r.name: v for r, v in zip(entry.results, out)}


def compare(simulated, deployed, *inputs) -> List[LayerDifference]:
    """Calls both entries on `inputs`; returns, per layer they both expose
    (in the simulation's order), how their outputs differ."""
    return compare_all(simulated, deployed, *inputs)[0]


def compare_all(simulated, deployed, *inputs):
    """(per-layer differences, per-output differences) of one call each."""
    return _compare(_results(simulated, inputs), _results(deployed, inputs))


def _compare(sim, dep):
    """Differences between the named results of the two programs."""
    layers, outputs = [], []
    for name, a in sim.items():
        if name not in dep:
            continue
        b = dep[name]
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
        if name.startswith("layer:"):
            step = _step(a)
            layers.append(LayerDifference(
                name[len("layer:"):], a.size, int(np.count_nonzero(diff)),
                float(diff.max() / step) if step else float(diff.max() > 0),
                step))
        else:
            rows = a.shape[0] if a.ndim == 2 else 0
            flips = (int(np.count_nonzero(classes(a) != classes(b)))
                     if rows else 0)
            agree = 1 - flips / rows if rows else float("nan")
            outputs.append(OutputDifference(name, a.size,
                                            int(np.count_nonzero(diff)),
                                            float(diff.max()), agree, rows,
                                            flips))
    return layers, outputs


def compare_dataset(simulated, deployed, x: np.ndarray):
    """compare_all over every sample of `x`, in batches of the entries'
    static batch size (the last one padded, its padding left out): per
    layer and per output, the totals and the largest difference, and the
    arg-max flips over the whole set."""
    batch = simulated.args[0].shape[0]
    layers, outputs = {}, {}
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        valid = len(chunk)
        if valid < batch:
            pad = np.zeros((batch - valid,) + chunk.shape[1:], chunk.dtype)
            chunk = np.concatenate([chunk, pad])
        sim = _results(simulated, [chunk])
        dep = _results(deployed, [chunk])
        part_layers, part_outputs = _compare(
            {k: v[:valid] for k, v in sim.items()},
            {k: v[:valid] for k, v in dep.items()})
        for part in part_layers:
            old = layers.get(part.layer)
            layers[part.layer] = part if old is None else old._replace(
                elements=old.elements + part.elements,
                differing=old.differing + part.differing,
                max_steps=max(old.max_steps, part.max_steps),
                step=old.step or part.step)
        for part in part_outputs:
            old = outputs.get(part.output)
            if old is not None:
                rows, flips = old.rows + part.rows, old.flips + part.flips
                part = old._replace(
                    elements=old.elements + part.elements,
                    differing=old.differing + part.differing,
                    max_difference=max(old.max_difference,
                                       part.max_difference),
                    rows=rows, flips=flips,
                    argmax_agreement=1 - flips / rows if rows else
                    float("nan"))
            outputs[part.output] = part
    return list(layers.values()), list(outputs.values())


def format_report(report: List[LayerDifference],
                  outputs: List[OutputDifference] = ()) -> str:
    lines = []
    first = next((r for r in report if r.differing), None)
    for r in report:
        lines.append(f"{r.layer}: {r.differing} of {r.elements} elements "
                     f"differ, at most {r.max_steps:.2f} steps "
                     f"(step {r.step:.6g})")
    for o in outputs:
        agree = ("" if np.isnan(o.argmax_agreement) else
                 f", arg-max agrees on {100 * o.argmax_agreement:.1f}% of rows "
                 f"({o.flips} of {o.rows} rows flip)")
        lines.append(f"output {o.output}: {o.differing} of {o.elements} "
                     f"elements differ, max difference {o.max_difference:.6g}"
                     f"{agree}")
    lines.append("first divergence: " + (first.layer if first else "none"))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m qat.check",
        description="Compare a QAT program and its integer conversion layer "
                    "by layer (both compiled after qat-expose-layers).")
    parser.add_argument("simulation", help="library of the QAT function")
    parser.add_argument("deployment", help="library of the integer function")
    parser.add_argument("inputs", help=".npz of the inputs, in argument order")
    parser.add_argument("--entry", default=None,
                        help="entry point (default: the only one exposing "
                             "layers)")
    args = parser.parse_args(argv)
    try:
        sim_model, dep_model = Model(args.simulation), Model(args.deployment)
        data = np.load(args.inputs)
        inputs = [data[k] for k in data.files]
    except Exception as error:  # a user's file: one line, no traceback
        print(f"qat.check: {error}", file=sys.stderr)
        return 1

    def entry(model):
        if args.entry:
            return model[args.entry]
        names = [e for e in model.entries
                 if any(r.name.startswith("layer:") for r in model[e].results)]
        if len(names) != 1:
            raise SystemExit("qat.check: choose the entry with --entry "
                             f"(candidates: {', '.join(names) or 'none'})")
        return model[names[0]]

    print(format_report(*compare_all(entry(sim_model), entry(dep_model),
                                     *inputs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
