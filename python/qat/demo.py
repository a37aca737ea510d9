"""The main job: Fashion-MNIST from float training to deployed integer
libraries, every step through the compiler.

For each network (an MLP and a small CNN, written as ONNX and imported, or
a float ONNX model of the user's):
  1. train in float with the compiled train step (qat-build-train-step);
  2. PTQ: instrument, calibrate ranges on training data (@calibrate),
     freeze, convert to integers, compile;
  3. QAT: the same instrumented network fine-tuned with LSQ scales, then
     frozen, converted and compiled;
  4. at 4 bits, QAT+faithful: scales frozen, the weights fine-tuned a
     little more through the faithful simulation (qat-faithful), which
     computes what the deployed program computes;
  5. mixed precision: each layer's weight width (8, 4 or 2 bits) chosen by
     `qat.search` from measured sensitivity under 40% of the int8 weights'
     size, then QAT; the report shows the Pareto front (search_<net>/);
  6. pruned and quantized: from the int8 QAT model, 50% and 75% of each
     weight by magnitude, 2:4, and 75% of the 4x16 blocks (the tiles the
     block-sparse kernel skips), reached on a sparsity schedule during a
     QAT fine-tuning, the masks then frozen (docs/Pruning.md);
steps 2-4 at W8A8, W4A8 and W4A4 (logits at 8 bits; below 8 bits the
initial scales are loss-aware, Trainer.refine_scales, docs/Training.md);
every deployed library is evaluated through the C runtime on the 10,000
test images. Prints a table and writes report.md with plots into the
output folder.
"""

import json
import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from qat import data as datasets
from qat import models, pipeline, search, workflow
from qat.onnx_import import import_onnx


@dataclass
class Row:
    network: str
    variant: str          # FP32, PTQ int8, QAT int8, ..., QAT mixed
    accuracy: float
    weight_bytes: int     # as stored in the library
    library_bytes: int
    latency_us: float     # batch 1, median per call
    history: List = field(default_factory=list)
    # Test images whose class differs between the QAT simulation (the frozen
    # fake-quant program) and the deployed integer program.
    mismatches: Optional[int] = None
    # Pruned models: the fraction of all layers' weights the masks prune.
    sparsity: Optional[float] = None


@dataclass
class Result:
    rows: List[Row]
    layer_sqnr: Dict[str, Dict[str, float]]  # "cnn QAT W4A8" -> layer -> dB
    histories: Dict[str, List]
    seconds: float
    # Network -> its mixed-precision search: the chosen widths, and the
    # folder (relative to the report) with search.md and pareto.png.
    searches: Dict[str, "Search"] = field(default_factory=dict)


@dataclass
class Search:
    bits: Dict[str, int]
    budget: int           # bytes of weights
    folder: str


# label, weight bits, activation bits (a last layer's output, the logits,
# stays at 8).
VARIANTS = [("int8", 8, 8), ("W4A8", 4, 8), ("W4A4", 4, 4)]
# The mixed-precision row: candidate weight widths and the budget, a
# fraction of the all-8-bit weights' size.
MIXED_WIDTHS = (8, 4, 2)
MIXED_BUDGET = 0.4
# Pruned int8 rows: label, qat-prune setting.
PRUNING = [("50%", "0.5"), ("75%", "0.75"), ("2:4", "2:4"),
           ("75% 4x16", "0.75/4x16")]

# Layers a pattern cannot prune, left dense: N:M runs along the input
# channels and the first convolution has one; 4x16 blocks need 4 | inputs
# and 16 | outputs (not the 10-way classifiers).
DENSE_LAYERS = {("cnn", "nm"): ["conv_0"],
                ("mlp", "block"): ["matmul_1"],
                ("cnn", "block"): ["conv_0", "matmul_0"]}


def _log(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, flush=True)


def _weight_bytes(params: Dict[str, np.ndarray], weight_bits: Optional[int]):
    """fp32: 4 bytes per value; integer: weights as pack-int4 stores their
    codes (search.code_bytes), biases as int32."""
    return sum(4 * value.size if value.ndim < 2 else
               search.code_bytes(value.shape, weight_bits)
               for value in params.values())


def _sqnr(reference: np.ndarray, value: np.ndarray) -> float:
    noise = float(np.sum((reference.astype(np.float64) - value) ** 2))
    signal = float(np.sum(reference.astype(np.float64) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(signal / noise)


def _layers(model, entry: str, x: np.ndarray) -> Dict[str, np.ndarray]:
    e = model[entry]
    out = e(np.ascontiguousarray(x[:e.args[0].shape[0]]))
    out = out if isinstance(out, tuple) else (out,)
    return {r.name[len("layer:"):]: v for r, v in zip(e.results, out)
            if r.name.startswith("layer:")}


def run_network(name: str, onnx_model, train, test, workdir: str,
                float_epochs: float, qat_epochs: float, float_lr: float,
                qat_lr: float, batch: int, quiet: bool, progress: bool,
                faithful_epochs: float = 0.25,
                faithful_variants=("W4A8", "W4A4"), pruning_epochs: float = 0,
                out_dir: Optional[str] = None, mixed: bool = True,
                plots: bool = True):
    rows, histories, sqnr, searches = [], {}, {}, {}
    imported = import_onnx(onnx_model, batch=batch, name=name)
    single = import_onnx(onnx_model, batch=1, name=name)
    fn = imported.function
    x_train = datasets.fit(train.x, imported.inputs[0][1], "training data")
    x_test = datasets.fit(test.x, imported.inputs[0][1], "test data")
    train = datasets.Split(x_train, train.y)
    test = datasets.Split(x_test, test.y)
    work = os.path.join(workdir, name)

    def deploy(text_b, text_1, values, variant, weight_bits, history,
               simulation=None, weight_bytes=None):
        """Frozen + converted (when quantized) at the evaluation batch and at
        batch 1; accuracy on the test set, latency, sizes. `simulation`: the
        frozen program the model was trained with, when not the fast
        simulation `text_b` frozen; `weight_bytes`: the stored weights' size
        when the layers' widths differ."""
        tag = variant.replace(" ", "_").replace("+", "_")
        frozen = workflow.freeze(text_b, values, fn)
        frozen1 = workflow.freeze(text_1, values, fn)
        mismatches = None
        if weight_bits is not None:
            # The simulation the model was trained with, against deployment:
            # test images whose predicted class differs.
            simulated = workflow.predict(
                pipeline.load(simulation or frozen, work, f"{tag}_sim")[fn],
                {}, test.x)
            frozen, frozen1 = workflow.convert(frozen), workflow.convert(frozen1)
        model = pipeline.load(frozen, work, f"{tag}_b{batch}")
        model1 = pipeline.load(frozen1, work, f"{tag}_b1")
        logits = workflow.predict(model[fn], {}, test.x)
        predicted = workflow.classes(logits)
        acc = float((predicted == test.y).mean())
        if weight_bits is not None:
            mismatches = int(np.count_nonzero(
                workflow.classes(simulated) != predicted))
        lat = workflow.latency(model1[fn], {}, test.x) * 1e6
        params = {k: v for k, v in values.items() if k in imported.params}
        if weight_bytes is None:
            weight_bytes = _weight_bytes(params, weight_bits)
        row = Row(name, variant, acc, weight_bytes,
                  os.path.getsize(model1.path), lat, history, mismatches)
        _log(f"  {name} {variant:9s} accuracy {100 * acc:6.2f}%  "
             f"latency {lat:8.1f} us/image" +
             (f"  simulation/deployment: {mismatches} predictions differ"
              if mismatches is not None else ""), quiet)
        return row

    def faithful_finetune(q_text, q_single, qat_values, label, weight_bits):
        """Scales frozen after QAT, then a short fine-tuning of the weights
        through the faithful simulation (qat-faithful): the program trained
        computes exactly what the deployed one computes."""
        _log(f"[{name}] {label}: scales frozen, {faithful_epochs:g} epochs "
             f"through the faithful simulation (lr {qat_lr / 2:g})", quiet)
        tuner, qparams = workflow.faithful_trainer(
            q_text, qat_values, fn, work, f"faithful_{label}")
        faithful = tuner.text
        history = tuner.fit(train, faithful_epochs, qat_lr / 2,
                            progress=progress,
                            desc=f"{name} faithful {label}")
        histories[f"{name} QAT+faithful {label}"] = history
        return deploy(q_text, q_single, dict(qparams, **tuner.values),
                      f"QAT+faithful {label}", weight_bits, history,
                      simulation=workflow.freeze(faithful, tuner.values, fn))

    # 1. Float training through the compiled train step.
    _log(f"[{name}] float training, {float_epochs:g} epochs "
         f"(batch {batch}, SGD momentum 0.9, cosine lr {float_lr:g})", quiet)
    trainer = workflow.Trainer(imported.text, imported.params, work,
                               "train_f32")
    history = []
    if float_epochs > 0:
        t = time.perf_counter()
        history = trainer.fit(train, float_epochs, float_lr,
                              progress=progress, desc=f"{name} fp32")
        _log(f"  trained in {time.perf_counter() - t:.1f} s, last loss "
             f"{history[-1][1]:.3f}", quiet)
    histories[f"{name} FP32"] = history
    float_values = trainer.values
    rows.append(deploy(imported.text, single.text, float_values, "FP32", None,
                       history))

    # Per-layer error: each quantized model's layer outputs against the same
    # weights under 16-bit fake quantization (same layer names), so the
    # number measures quantization alone, not how far QAT moved the weights.
    ref_text = workflow.instrument(imported.text, 16, 16)
    ref_trainer = workflow.Trainer(ref_text, float_values, work, "ref16",
                                   range_learning="none")

    def layer_sqnr(q_text, values, tag):
        ref_trainer.values = dict(values)
        ref_values = dict(values, **ref_trainer.calibrate(train.x))
        reference = _layers(pipeline.load(workflow.expose_layers(
            workflow.freeze(ref_text, ref_values, fn)),
            work, f"ref16_{tag}"), fn, test.x)
        layers = _layers(pipeline.load(workflow.expose_layers(
            workflow.freeze(q_text, values, fn)),
            work, f"layers_{tag}"), fn, test.x)
        return {layer: _sqnr(reference[layer], value)
                for layer, value in layers.items() if layer in reference}

    def calibrated(q_text, tag, low_bit):
        """A QAT trainer from the float values, its scales calibrated
        (min/max; loss-aware when `low_bit`)."""
        qat = workflow.Trainer(q_text, float_values, work, tag)
        qat.calibrate(train.x)
        if low_bit:
            qat.refine_scales(train)
        return qat

    for label, weight_bits, act_bits in VARIANTS:
        q_text = workflow.instrument(imported.text, weight_bits, act_bits,
                                     last_act_bits=8)
        q_single = workflow.instrument(single.text, weight_bits, act_bits,
                                       last_act_bits=8)
        low_bit = min(weight_bits, act_bits) < 8
        _log(f"[{name}] {label}: calibrate (PTQ"
             f"{', loss-aware scales' if low_bit else ''}), then QAT "
             f"{qat_epochs:g} epochs (LSQ scales, lr {qat_lr:g})", quiet)
        qat = calibrated(q_text, f"train_{label}", low_bit)
        ptq_values = dict(qat.values)
        rows.append(deploy(q_text, q_single, ptq_values, f"PTQ {label}",
                           weight_bits, []))
        history = qat.fit(train, qat_epochs, qat_lr, progress=progress,
                          desc=f"{name} QAT {label}")
        histories[f"{name} QAT {label}"] = history
        qat_values = dict(qat.values)
        if label == "int8":
            int8_values = qat_values
        rows.append(deploy(q_text, q_single, qat_values, f"QAT {label}",
                           weight_bits, history))
        for variant, values in (("PTQ", ptq_values), ("QAT", qat_values)):
            sqnr[f"{name} {variant} {label}"] = layer_sqnr(
                q_text, values, f"{variant}_{label}")
        if label in faithful_variants and faithful_epochs > 0:
            rows.append(faithful_finetune(q_text, q_single, qat_values, label,
                                          weight_bits))

    # 5. Mixed precision: weight widths per layer from measured
    # sensitivity, under MIXED_BUDGET of the int8 weights; then QAT as the
    # 4-bit rows. The front's points that are rows here (all 8, all 4, the
    # chosen widths) carry their deployed accuracy in the report's plot.
    if mixed and out_dir is not None:
        _log(f"[{name}] mixed precision: sensitivity of each layer at "
             f"{', '.join(map(str, MIXED_WIDTHS[1:]))}-bit weights", quiet)
        layers, base, cost, _ = search.sensitivities(
            imported.text, float_values, train, MIXED_WIDTHS, 8, work,
            last_act_bits=8, log=lambda m: _log(m, quiet))
        widest = {layer.name: MIXED_WIDTHS[0] for layer in layers}
        budget = int(MIXED_BUDGET * search.weight_bytes(layers, widest))
        bits = search.choose(layers, cost, MIXED_WIDTHS, budget)
        if bits is not None:
            config = search.write_config(os.path.join(work, "mixed.json"),
                                         bits)
            q_text = workflow.instrument(imported.text, 8, 8, config,
                                         last_act_bits=8)
            q_single = workflow.instrument(single.text, 8, 8, config,
                                           last_act_bits=8)
            widths = ", ".join(f"{n} {b}" for n, b in bits.items())
            _log(f"[{name}] mixed ({widths} bits, "
                 f"{search.weight_bytes(layers, bits) / 1024:.1f} KiB): "
                 f"QAT {qat_epochs:g} epochs", quiet)
            qat = calibrated(q_text, "train_mixed", True)
            history = qat.fit(train, qat_epochs, qat_lr, progress=progress,
                              desc=f"{name} QAT mixed")
            histories[f"{name} QAT mixed"] = history
            row = deploy(q_text, q_single, qat.values, "QAT mixed", 8,
                         history, weight_bytes=search.weight_bytes(layers,
                                                                   bits))
            rows.append(row)
            known = {tuple(widest.values()): "QAT int8",
                     tuple(4 for _ in layers): "QAT W4A8",
                     tuple(bits.values()): "QAT mixed"}
            by_variant = {r.variant: r for r in rows}
            points = []
            for size, predicted, front_bits in search.front_with(
                    layers, cost, MIXED_WIDTHS, bits):
                deployed = by_variant.get(known.get(
                    tuple(front_bits.values()), ""))
                points.append(search.Point(
                    front_bits, size, predicted,
                    deployed.accuracy if deployed else None,
                    deployed.mismatches if deployed else None))
            folder = f"search_{name}"
            os.makedirs(os.path.join(out_dir, folder), exist_ok=True)
            int8 = by_variant["QAT int8"]
            search.write_report(os.path.join(out_dir, folder), layers, base,
                                cost, MIXED_WIDTHS, budget, bits, points,
                                (int8.weight_bytes, int8.accuracy),
                                plot=plots)
            searches[name] = Search(bits, budget, folder)

    # 6. Pruned int8: from the QAT int8 model, the sparsity rises from 0 to
    # the target over the first half of the fine-tuning (masks recomputed 8
    # times), then the masks are frozen for the second half.
    steps = int(pruning_epochs * len(train.x)) // batch
    for label, spec in PRUNING if steps >= 2 else []:
        end = steps // 2
        schedule = workflow.PruneSchedule(1, end, max(1, end // 8))
        config = None
        kind = "nm" if ":" in spec else "block" if "x" in spec else None
        dense = DENSE_LAYERS.get((name, kind))
        if dense:
            config = os.path.join(work, f"prune_{kind}.json")
            os.makedirs(work, exist_ok=True)
            with pipeline.replacing(config) as f:
                json.dump({"layers": [{"name": layer, "prune": "none"}
                                      for layer in dense]}, f)
        p_text = workflow.instrument(workflow.prune(imported.text, spec,
                                                    config))
        p_single = workflow.instrument(workflow.prune(single.text, spec,
                                                      config))
        _log(f"[{name}] int8 pruned {label}: {pruning_epochs:g} QAT epochs, "
             f"sparsity scheduled over steps 1-{end}, then frozen", quiet)
        tuner = workflow.Trainer(p_text, int8_values, work,
                                 "prune_" + spec.replace(":", "of")
                                 .replace("/", "_"),
                                 prune_schedule=schedule)
        history = tuner.fit(train, pruning_epochs, qat_lr, progress=progress,
                            desc=f"{name} pruned {label}")
        histories[f"{name} QAT int8 {label}"] = history
        row = deploy(p_text, p_single, tuner.values, f"QAT int8 {label}", 8,
                     history)
        # Over every layer's weight (a layer left dense counts as such).
        masks = [v for k, v in tuner.values.items() if k.startswith("mask:")]
        weights = [v for k, v in tuner.values.items()
                   if k in imported.params and v.ndim >= 2]
        row.sparsity = (sum(int(np.count_nonzero(m == 0)) for m in masks) /
                        sum(w.size for w in weights))
        rows.append(row)
    return rows, histories, sqnr, searches


def format_table(rows: List[Row]) -> str:
    lines = ["| network | model | accuracy | sparsity | weights (KiB) | "
             "library (KiB) | latency (us/image) | sim/deployed class "
             "mismatches |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mismatches = "-" if r.mismatches is None else str(r.mismatches)
        sparsity = "-" if r.sparsity is None else f"{100 * r.sparsity:.1f}%"
        lines.append(f"| {r.network} | {r.variant} | {100 * r.accuracy:.2f}% "
                     f"| {sparsity} | {r.weight_bytes / 1024:.1f} | "
                     f"{r.library_bytes / 1024:.0f} | {r.latency_us:.1f} | "
                     f"{mismatches} |")
    return "\n".join(lines)


def run(out_dir: str = "demo-out", networks=("mlp", "cnn"),
        onnx_path: Optional[str] = None, float_epochs: float = 4,
        qat_epochs: float = 1, train_limit: Optional[int] = None,
        test_limit: Optional[int] = None, batch: int = 64,
        data: str = "fashion-mnist", quiet: bool = False,
        progress: bool = True, plots: bool = True,
        faithful_epochs: float = 0.25,
        pruning_epochs: Optional[float] = None, mixed: bool = True) -> Result:
    """`pruning_epochs`: the QAT fine-tuning of each pruned row (default:
    `qat_epochs`; 0 skips the pruned rows); `mixed`: the mixed-precision
    search and its row."""
    start = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    workdir = os.path.join(out_dir, "build")
    train = datasets.load(data, "train", train_limit)
    test = (datasets.load(data, "test", test_limit) if data == "fashion-mnist"
            else datasets.Split(train.x[-(test_limit or len(train.x) // 6):],
                                train.y[-(test_limit or len(train.x) // 6):]))
    _log(f"data: {len(train.x)} training and {len(test.x)} test samples "
         f"({data})", quiet)
    chosen = []
    if onnx_path:
        chosen.append((os.path.splitext(os.path.basename(onnx_path))[0],
                       onnx_path))
    else:
        for name in networks:
            chosen.append((name, {"mlp": models.mlp, "cnn": models.cnn}[name]()))
    rows, histories, sqnr, searches = [], {}, {}, {}
    for name, onnx_model in chosen:
        lr = {"mlp": 0.05}.get(name, 0.05)
        r, h, s, m = run_network(
            name, onnx_model, train, test, workdir, float_epochs, qat_epochs,
            lr, lr / 10, batch, quiet, progress, faithful_epochs,
            pruning_epochs=(qat_epochs if pruning_epochs is None
                            else pruning_epochs),
            out_dir=out_dir, mixed=mixed, plots=plots)
        rows += r
        histories.update(h)
        sqnr.update(s)
        searches.update(m)
    result = Result(rows, sqnr, histories, time.perf_counter() - start,
                    searches)
    from qat import report
    report.write(out_dir, result, plots=plots)
    _log("", quiet)
    _log(format_table(rows), quiet)
    _log(f"\nreport: {os.path.join(out_dir, 'report.md')} "
         f"({result.seconds:.0f} s in all)", quiet)
    return result
