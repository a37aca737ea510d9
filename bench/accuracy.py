#!/usr/bin/python3
"""Accuracy at 8 and 4 bits against the float control, deployed: one command.

    /usr/bin/python3 bench/accuracy.py [--networks cnn,mlp] [--float-epochs 5]
        [--qat-epochs 2] [--faithful-epochs 0.5] [--train-limit N] [--out DIR]

The recipe of issue 16's table: each network (the demo's CNN, conv3x3(16)-pool-
conv3x3(32)-pool-fc, and an MLP 784-256-128-10) is trained in float on
Fashion-MNIST for --float-epochs (SGD momentum 0.9, cosine lr 0.05, batch 64).
From that checkpoint, every row trains --qat-epochs more with Adam, lr 1e-4:

  control              the float network (no quantization)
  QAT int8             8-bit weights (per channel) and activations
  QAT W4A4             4 bits everywhere, scales from min/max calibration
  W4A4, logits 8-bit   4 bits, the last layer's output at 8 (last-act-bits)
  W4A4, loss-aware     4 bits, scales first chosen by Trainer.refine_scales
  W4A4, logits 8 + loss-aware   both
  ... + distill        both, and the loss distilled from the float network
                       (Trainer(teacher=...): (1 - w) CE + w T^2 KL, w 0.5,
                       T 4)
  W4A4, first/last 8   4 bits, except the first and last layers at 8
  ... + faithful       each all-layer 4-bit row, then --faithful-epochs
                       through the faithful simulation (scales frozen)

--distill W:T[,W:T...] sets the distill rows' weights and temperatures (one
row each; default 0.5:4). --mixed "8,4,2;8,3,3" adds mixed-precision rows:
the weight widths per layer in program order (activations 8-bit), each
trained as `python3 -m qat search` trains its front (qat.search.train_point:
loss-aware initial scales, then --mixed-epochs of Adam at --mixed-lr,
default 4 and 1e-3) next to all layers at 8 bits trained the same way; the
row's label names the widths and the weights' size against int8's.
`--rows none --mixed ...` runs the mixed rows alone.

Each quantized row is frozen, converted to integers and compiled; the accuracy
is the deployed library's on the 10,000 test images, and "flips" counts the
test images whose predicted class differs between the program the row was
trained with (its simulation, frozen) and the deployed one (arg-max ties go to
the lowest class index on both sides, qat.workflow.classes); "tied top
logits" counts the test images whose deployed logits have two equal
maxima. Prints a markdown table, writes it to
DIR/accuracy.md with the time each row took. A benchmark: no pass/fail.
"""

import argparse
import json
import os
import re
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
from qat import data as datasets  # noqa: E402
from qat import models, pipeline, search, workflow  # noqa: E402
from qat.onnx_import import import_onnx  # noqa: E402

BATCH = 64


def layer_names(instrumented: str):
    """The layers qat-instrument named, in program order."""
    names = []
    for name in re.findall(r'qat\.layer = "([^"]+)"', instrumented):
        if name not in names:
            names.append(name)
    return names


def write_config(path, layers):
    with pipeline.replacing(path) as f:
        json.dump({"layers": layers}, f)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--networks", default="cnn,mlp")
    parser.add_argument("--float-epochs", type=float, default=5)
    parser.add_argument("--qat-epochs", type=float, default=2)
    parser.add_argument("--faithful-epochs", type=float, default=0.5)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--train-limit", type=int)
    parser.add_argument("--rows", help="semicolon-separated row labels to run "
                        "(default: all)")
    parser.add_argument("--distill", default="0.5:4",
                        help="the distill rows' weight:temperature pairs, "
                        "comma-separated")
    parser.add_argument("--mixed", default="",
                        help="semicolon-separated weight widths per layer "
                        "(such as 8,4,2), each a mixed-precision row")
    parser.add_argument("--mixed-epochs", type=float, default=4)
    parser.add_argument("--mixed-lr", type=float, default=1e-3)
    parser.add_argument("--out", default=os.path.join("bench-out",
                                                      "accuracy"))
    args = parser.parse_args()
    try:
        args.distill = [tuple(float(v) for v in pair.split(":"))
                        for pair in args.distill.split(",")]
        args.mixed = [tuple(int(b) for b in widths.split(","))
                      for widths in args.mixed.split(";") if widths]
    except ValueError:
        parser.error("--distill expects W:T pairs such as 0.5:4, --mixed "
                     "widths such as 8,4,2;8,3,3")
    if any(len(pair) != 2 for pair in args.distill):
        parser.error("--distill expects W:T pairs such as 0.5:4")
    os.makedirs(args.out, exist_ok=True)
    train = datasets.load("fashion-mnist", "train", args.train_limit)
    test = datasets.load("fashion-mnist", "test")
    networks = {"cnn": lambda: models.cnn(),
                "mlp": lambda: models.mlp(hidden=(256, 128))}
    results = []
    start = time.perf_counter()
    for name in args.networks.split(","):
        results += run_network(name, networks[name](), train, test, args)
    table = format_table(results)
    print("\n" + table)
    total = time.perf_counter() - start
    with pipeline.replacing(os.path.join(args.out, "accuracy.md")) as f:
        f.write(f"# Accuracy against the float control\n\n"
                f"`bench/accuracy.py --float-epochs {args.float_epochs:g} "
                f"--qat-epochs {args.qat_epochs:g} --faithful-epochs "
                f"{args.faithful_epochs:g}`"
                f"{' --train-limit %d' % args.train_limit if args.train_limit else ''}"
                f"{' --mixed-epochs %g --mixed-lr %g' % (args.mixed_epochs, args.mixed_lr) if args.mixed else ''}"
                f", {total:.0f} s in all.\n\n{table}\n")
    print(f"\n{total:.0f} s in all; table in "
          f"{os.path.join(args.out, 'accuracy.md')}")


def run_network(name, onnx_model, train, test, args):
    imported = import_onnx(onnx_model, batch=BATCH, name=name)
    fn = imported.function
    train = datasets.Split(datasets.fit(train.x, imported.inputs[0][1],
                                        "training data"), train.y)
    test = datasets.Split(datasets.fit(test.x, imported.inputs[0][1],
                                       "test data"), test.y)
    work = os.path.join(args.out, "build", name)
    os.makedirs(work, exist_ok=True)
    wanted = set(args.rows.split(";")) if args.rows else None
    rows = []

    def report(label, accuracy, flips, ties, seconds):
        rows.append((name, label, accuracy, flips, ties, seconds))
        print(f"[{name}] {label:22s} {100 * accuracy:6.2f}%  "
              f"flips {'-' if flips is None else flips}  ({seconds:.0f} s)",
              flush=True)

    t = time.perf_counter()
    trainer = workflow.Trainer(imported.text, imported.params, work, "f32")
    trainer.fit(train, args.float_epochs, 0.05, progress=False)
    float_values = dict(trainer.values)
    print(f"[{name}] float, {args.float_epochs:g} epochs: "
          f"{100 * accuracy_of(imported.text, float_values, fn, test, work, 'f32'):.2f}% "
          f"({time.perf_counter() - t:.0f} s)", flush=True)

    if not wanted or "control" in wanted:
        t = time.perf_counter()
        control = workflow.Trainer(imported.text, float_values, work,
                                   "control", optimizer="adam")
        control.fit(train, args.qat_epochs, args.lr, progress=False)
        report("control", accuracy_of(imported.text, control.values, fn, test,
                                      work, "control"), None, None,
               time.perf_counter() - t)

    layers = layer_names(workflow.instrument(imported.text, 8, 8))
    first, last = layers[0], layers[-1]
    edges8 = write_config(os.path.join(work, "edges8.json"),
                          [{"name": first, "weight_bits": 8, "act_bits": 8},
                           {"name": last, "weight_bits": 8, "act_bits": 8}])
    teacher = workflow.teacher_file(imported.text, float_values, fn,
                                    os.path.join(work, "teacher.mlir"))
    # label, weight bits, activation bits, config, logits bits, refine,
    # distillation (weight, temperature) or None
    distilled = [("W4A4, logits 8 + loss-aware + distill" +
                  ("" if (w, t) == (0.5, 4) else f" w{w:g} T{t:g}"),
                  4, 4, None, 8, True, (w, t)) for w, t in args.distill]
    variants = [("QAT int8", 8, 8, None, None, False, None),
                ("QAT W4A4", 4, 4, None, None, False, None),
                ("W4A4, logits 8-bit", 4, 4, None, 8, False, None),
                ("W4A4, loss-aware", 4, 4, None, None, True, None),
                ("W4A4, logits 8 + loss-aware", 4, 4, None, 8, True, None),
                *distilled,
                ("W4A4, first/last 8", 4, 4, edges8, None, False, None)]
    for label, wbits, abits, config, logits, refine, distill in variants:
        faithful = wbits < 8 and config is None and args.faithful_epochs > 0
        if wanted and label not in wanted:
            continue
        t = time.perf_counter()
        tag = re.sub(r"[^A-Za-z0-9]+", "_", label)
        q_text = workflow.instrument(imported.text, wbits, abits, config,
                                     last_act_bits=logits)
        kd = (dict(teacher=teacher, distill_weight=distill[0],
                   distill_temperature=distill[1]) if distill else {})
        qat = workflow.Trainer(q_text, float_values, work, tag,
                               optimizer="adam", **kd)
        qat.calibrate(train.x)
        if refine:
            qat.refine_scales(train)
        qat.fit(train, args.qat_epochs, args.lr, progress=False)
        acc, flips, ties = deployed(q_text, qat.values, fn, test, work, tag)
        report(label, acc, flips, ties, time.perf_counter() - t)
        if faithful:
            t = time.perf_counter()
            tuner, qparams = workflow.faithful_trainer(
                q_text, qat.values, fn, work, tag + "_faithful",
                optimizer="adam", **kd)
            tuner.fit(train, args.faithful_epochs, args.lr, progress=False)
            values = dict(qparams, **tuner.values)
            acc, flips, ties = deployed(q_text, values, fn, test, work,
                                  tag + "_faithful",
                                  simulation=workflow.freeze(
                                      tuner.text, tuner.values, fn))
            report(label + " + faithful", acc, flips, ties,
                   time.perf_counter() - t)
    if args.mixed:
        mixed_rows(imported.text, float_values, train, test, work, args,
                   report)
    return rows


def mixed_rows(text, float_values, train, test, work, args, report):
    """--mixed: each width list trained as the search trains its front,
    after all layers at 8 bits trained the same way (the reference)."""
    layers = search.layers_of(workflow.instrument(text, 8, 8))
    int8 = search.weight_bytes(layers, {l.name: 8 for l in layers})
    for widths in [(8,) * len(layers)] + args.mixed:
        if len(widths) != len(layers):
            raise SystemExit(f"--mixed: expected {len(layers)} widths (layers "
                             f"{', '.join(l.name for l in layers)}), got "
                             f"{','.join(map(str, widths))}")
        bits = {layer.name: b for layer, b in zip(layers, widths)}
        size = search.weight_bytes(layers, bits)
        label = (f"mixed {','.join(map(str, widths))}, {args.mixed_epochs:g} "
                 f"epochs ({size / 1024:.1f} KiB, {100 * size / int8:.0f}%)")
        t = time.perf_counter()
        acc, flips = search.train_point(
            text, float_values, bits, 8, train, test, args.mixed_epochs,
            args.mixed_lr, work, "mixed_" + "_".join(map(str, widths)))
        report(label, acc, flips, None, time.perf_counter() - t)


def accuracy_of(text, values, fn, test, work, tag):
    model = pipeline.load(workflow.freeze(text, values, fn), work,
                          tag + "_frozen")
    return workflow.accuracy(model[fn], {}, test)


def deployed(q_text, values, fn, test, work, tag, simulation=None):
    """(deployed accuracy, simulation/deployment flips, test images whose
    deployed logits tie at the top) on `test`."""
    frozen = workflow.freeze(q_text, values, fn)
    simulated = workflow.classes(workflow.predict(
        pipeline.load(simulation or frozen, work, tag + "_sim")[fn], {},
        test.x))
    logits = workflow.predict(
        pipeline.load(workflow.convert(frozen), work, tag + "_int")[fn], {},
        test.x)
    predicted = workflow.classes(logits)
    top = logits.max(1, keepdims=True)
    ties = int(np.count_nonzero((logits == top).sum(1) > 1))
    return (float((predicted == test.y).mean()),
            int(np.count_nonzero(simulated != predicted)), ties)


def format_table(rows):
    control = {row[0]: row[2] for row in rows if row[1] == "control"}
    lines = ["| network | row | deployed accuracy | vs control | "
             "sim/deploy flips | tied top logits | time (s) |",
             "|---|---|---|---|---|---|---|"]
    for net, label, acc, flips, ties, seconds in rows:
        delta = (f"{100 * (acc - control[net]):+.2f}"
                 if net in control and label != "control" else "")
        lines.append(f"| {net} | {label} | {100 * acc:.2f} | {delta} | "
                     f"{'-' if flips is None else flips} | "
                     f"{'-' if ties is None else ties} | {seconds:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
