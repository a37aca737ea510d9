"""`python3 -m qat <command>`: the compiler pipeline, one step per command.

    import      model.onnx -> model.mlir + model.npz (parameters)
    instrument  model.mlir -> model.qat.mlir (fake-quant placed; --prune)
    prune       model.mlir -> model.pruned.mlir (magnitude or N:M masks)
    calibrate   model.qat.mlir + values -> values with scales (PTQ ranges)
    train       model(.qat).mlir + values -> trained values (float or QAT)
    freeze      model.qat.mlir + values -> model.frozen.mlir (constants)
    convert     model.frozen.mlir -> model.int.mlir (integer linalg)
    compile     model.mlir -> libmodel.so
    eval        libmodel.so (+ values) + data -> accuracy, latency
    check       model.frozen.mlir + data -> layer-by-layer differences
    demo        all of the above on Fashion-MNIST, with a report

Values files are .npz archives of named arrays (parameters by their
`qat.name`, scales and zero points by the names qat-instrument gives).
User mistakes print one line, `error: ...`, and a hint; exit status 1.
"""

import argparse
import math
import os
import sys
from typing import Dict, List, Optional

import numpy as np


class UsageError(Exception):
    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


def _read(path: str) -> str:
    """An MLIR text file."""
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not an MLIR text file",
                         "ONNX models go through `import` first")


def _write(path: str, text: str) -> None:
    """Writes through a temporary file renamed into place
    (pipeline.replacing)."""
    from qat import pipeline
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with pipeline.replacing(path) as f:
        f.write(text)


def _load_values(paths: Optional[List[str]],
                 required: bool = True) -> Dict[str, np.ndarray]:
    if required and not paths:
        raise UsageError("no values given",
                         "pass --values FILE.npz (from `import`, `calibrate` "
                         "or `train`)")
    values = {}
    for path in paths or []:
        if not os.path.exists(path):
            raise UsageError(f"{path}: no such file",
                             "values come from `import`, `calibrate` or "
                             "`train` (.npz)")
        try:
            with np.load(path) as z:
                values.update({k: z[k] for k in z.files})
        except (OSError, ValueError) as err:
            raise UsageError(f"{path}: not an .npz archive ({err})")
    return values


def _save_values(path: str, values: Dict[str, np.ndarray]) -> None:
    from qat import pipeline
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    pipeline.save_values(path, values)


def _default_out(path: str, suffix: str, strip: bool = True) -> str:
    """model.qat.mlir -> model<suffix> (model.qat<suffix> without strip)."""
    base = path[:-5] if path.endswith(".mlir") else os.path.splitext(path)[0]
    for known in (".qat", ".frozen", ".int"):
        if strip and base.endswith(known):
            base = base[:-len(known)]
    return base + suffix


def _workdir(args) -> str:
    return args.workdir or os.path.join(
        os.path.dirname(os.path.abspath(args.output or args.model)),
        ".qat-build")


def _short(values) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


# Commands --------------------------------------------------------------------

def cmd_import(args):
    from qat import data
    from qat.onnx_import import import_onnx
    normalize = (data.normalization(args.normalize) if args.normalize
                 else None)
    imported = import_onnx(args.model, batch=args.batch, name=args.name,
                           normalize=normalize)
    out = args.output or _default_out(args.model, ".mlir")
    _write(out, imported.text)
    params = args.params or out[:-5] + ".npz"
    _save_values(params, imported.params)
    ops = ", ".join(f"{k} x{v}" for k, v in sorted(imported.ops.items()))
    print(f"imported @{imported.function} ({ops}) -> {out}; "
          f"{len(imported.params)} parameters -> {params}")
    if imported.normalize:
        mean, std = imported.normalize
        print(f"inputs normalized in the program: (x - {_short(mean)}) / "
              f"{_short(std)}")


def cmd_instrument(args):
    from qat import workflow
    import tempfile
    with tempfile.TemporaryDirectory() as scratch:
        # The plan goes to a file only when someone reads it.
        plan = (os.path.join(scratch, "plan.txt")
                if args.dry_run or args.report else None)
        source = _read(args.model)
        if args.prune:
            source = workflow.prune(source, args.prune, args.config)
        # Logits below 8 bits tie often and cost the most accuracy:
        # unless told, the last layer's output stays at 8.
        last = args.last_act_bits
        if last is None:
            last = 8 if args.act_bits < 8 else 0
        text = workflow.instrument(source, args.weight_bits,
                                   args.act_bits, args.config, report=plan,
                                   dry_run=args.dry_run,
                                   last_act_bits=last or None)
        report = ""
        if plan:
            with open(plan) as f:
                report = f.read()
    if args.report:
        _write(args.report, report)
    if args.dry_run:
        print(report, end="")
        return
    out = args.output or _default_out(args.model, ".qat.mlir")
    _write(out, text)
    logits = f", logits {last}-bit" if last else ""
    print(f"instrumented (W{args.weight_bits}A{args.act_bits}{logits}) -> "
          f"{out}")


def cmd_prune(args):
    from qat import workflow
    if not args.prune and not args.config:
        raise UsageError("nothing to prune with",
                         "give --prune 0.5 (a sparsity) or --prune 2:4, or a "
                         "--config with prune settings")
    out = args.output or _default_out(args.model, ".pruned.mlir")
    _write(out, workflow.prune(_read(args.model), args.prune, args.config))
    print(f"pruned ({args.prune or 'per --config'}) -> {out}")


def _data(args, split="train"):
    from qat import data
    return data.load(args.data, split, args.limit)


def _fit_input(trainer_or_entry_shape, x, what):
    from qat import data
    return data.fit(x, trainer_or_entry_shape, what)


def _communicator(args):
    """The ranks of a --distributed run (MPI_COMM_WORLD), else one
    process. Kept on `args` so that an error can stop every rank."""
    from qat import distributed
    if not getattr(args, "distributed", False):
        args.comm = distributed.Single()
        return args.comm
    bucket_mb = getattr(args, "bucket_mb", None)  # train only
    try:
        args.comm = distributed.World() if bucket_mb is None else \
            distributed.World(bucket_bytes=int(bucket_mb * (1 << 20)))
    except RuntimeError as err:
        raise UsageError(str(err))
    return args.comm


def _is_writer(args) -> bool:
    """Only rank 0 writes outputs and prints results."""
    return args.comm.rank == 0


def cmd_calibrate(args):
    from qat import data as datasets
    from qat import workflow
    text = workflow.with_batch(_read(args.model), args.batch_size)
    values = _load_values(args.values)
    comm = _communicator(args)
    # --refine scores scales by the loss: @eval_step too.
    functions = ("calibrate", "qparams") + (("eval_step",) if args.refine
                                            else ())
    trainer = workflow.Trainer(text, values, _workdir(args), "calibrate",
                               range_learning="none", comm=comm,
                               functions=functions)
    split = _data(args)
    x = datasets.fit(split.x, trainer.input_shape, args.data)
    qparams = trainer.calibrate(x, args.batches, progress=not args.quiet)
    if args.refine:
        before, after = trainer.refine_scales(
            datasets.Split(x, split.y), batches=args.refine_batches,
            progress=not args.quiet)
        qparams = {k: trainer.values[k] for k in qparams}
        if _is_writer(args):
            print(f"loss-aware scales: loss {before:.4f} -> {after:.4f} on "
                  f"{min(len(x) // trainer.batch, args.refine_batches) * trainer.batch}"
                  " samples")
    if not _is_writer(args):
        return
    for name in workflow.collapsed_ranges(qparams):
        print(f"warning: {name}: the calibrated range collapsed to a point "
              f"(scale {workflow.SCALE_FLOOR:.3g}); its quantization is "
              "useless", file=sys.stderr)
    out = args.output or _default_out(args.model, ".calibrated.npz", strip=False)
    _save_values(out, dict(values, **qparams))
    print(f"calibrated {len(qparams)} scales and zero points on "
          f"{min(len(x) // trainer.batch, args.batches) * trainer.batch} "
          f"samples -> {out}")


def cmd_train(args):
    from qat import data as datasets
    from qat import workflow
    text = workflow.with_batch(_read(args.model), args.batch_size)
    values = _load_values(args.values)
    options = dict(optimizer=args.optimizer, momentum=args.momentum,
                   weight_decay=args.weight_decay,
                   range_learning=args.range_learning)
    comm = _communicator(args)
    options.update(comm=comm, accumulate=args.accumulate)
    if args.teacher:
        # At the training batch, next to the other build products.
        teacher = os.path.join(_workdir(args), "teacher.mlir")
        os.makedirs(_workdir(args), exist_ok=True)
        _write(teacher, workflow.with_batch(_read(args.teacher),
                                            args.batch_size))
        options.update(teacher=teacher,
                       distill_temperature=args.distill_temperature,
                       distill_weight=args.distill_weight)
    if args.prune_end is not None:
        if args.prune_begin > args.prune_end:
            raise UsageError(f"--prune-begin {args.prune_begin} is after "
                             f"--prune-end {args.prune_end}")
        if args.faithful:
            raise UsageError("--faithful trains frozen scales; prune with a "
                             "schedule before it, without --faithful")
        options["prune_schedule"] = workflow.PruneSchedule(
            args.prune_begin, args.prune_end, args.prune_every,
            args.prune_initial_sparsity)
    frozen = {}  # scales and zero points --faithful keeps as they are
    if args.faithful:
        trainer, frozen = workflow.faithful_trainer(
            text, values, workflow.forward_function(text), _workdir(args),
            "train_faithful", **options)
    else:
        trainer = workflow.Trainer(text, values, _workdir(args), "train",
                                   **options)
    split = _data(args)
    x = datasets.fit(split.x, trainer.input_shape, args.data)
    out = args.output or _default_out(args.model, ".trained.npz", strip=False)
    if args.resume and not os.path.exists(args.resume):
        raise UsageError(f"{args.resume}: no such checkpoint",
                         "checkpoints are written by --checkpoint-every")
    checkpoint = args.checkpoint or (out[:-4] if out.endswith(".npz")
                                     else out) + ".checkpoint.npz"

    def save(values):
        if _is_writer(args):
            _save_values(out, values)

    try:
        history = trainer.fit(
            datasets.Split(x, split.y), args.epochs, args.lr,
            progress=not args.quiet, seed=args.seed,
            deterministic=args.deterministic, schedule=args.schedule,
            warmup=args.warmup,
            checkpoint=checkpoint, checkpoint_every=args.checkpoint_every,
            resume=args.resume)
    except workflow.Diverged as err:
        # Keep the work done: the values of the last good step.
        trainer.sync_observed_ranges()
        save(dict(frozen, **trainer.values))
        raise UsageError(f"{err}; the values of step {err.step} were saved "
                         f"to {out}",
                         "lower --lr (or check the data and labels)") from None
    except KeyboardInterrupt:
        # Never lose the work done: the values after the last full step.
        trainer.sync_observed_ranges()
        save(dict(frozen, **trainer.values))
        if _is_writer(args):
            print(f"\ninterrupted after {trainer.step} steps; the values so "
                  f"far -> {out}", file=sys.stderr)
        raise
    save(dict(frozen, **trainer.values))
    if _is_writer(args):
        ranks = (f" on {comm.size} ranks" if comm.size > 1 else "")
        print(f"trained {trainer.step} steps{ranks}, loss "
              f"{history[0][1]:.4f} -> {history[-1][1]:.4f} -> {out}")


def cmd_freeze(args):
    from qat import workflow
    text = _read(args.model)
    values = _load_values(args.values)
    function = args.function or workflow.forward_function(text)
    out = args.output or _default_out(args.model, ".frozen.mlir")
    _write(out, workflow.freeze(text, values, function))
    print(f"froze @{function} with {len(values)} values -> {out}")


def cmd_convert(args):
    from qat import workflow
    out = args.output or _default_out(args.model, ".int.mlir")
    text = _read(args.model)
    if "qat.frozen" not in text:
        raise UsageError(f"{args.model}: no frozen function to convert "
                         "(expected the output of `freeze`, marked "
                         "qat.frozen)",
                         "run `freeze` on the instrumented model first")
    _write(out, workflow.convert(text, allow_collapsed=args.allow_collapsed))
    print(f"converted to integers -> {out}")


def cmd_compile(args):
    from qat import pipeline
    _read(args.model)
    out = args.output or os.path.join(
        os.path.dirname(os.path.abspath(args.model)),
        "lib" + os.path.basename(_default_out(args.model, ".so", strip=False)))
    pipeline.compile_library(_read(args.model), out, args.flag or ())
    print(f"compiled -> {out} ({os.path.getsize(out) // 1024} KiB)")


def cmd_eval(args):
    from qat import data as datasets
    from qat import workflow
    from qat.runtime import Model, QatError
    def open_entry(library):
        if not os.path.exists(library):
            raise UsageError(f"{library}: no such file",
                             "make one with `python3 -m qat compile`")
        try:
            model = Model(os.path.abspath(library))
        except QatError as err:
            raise UsageError(f"{library}: {err}")
        name = args.entry or next(iter(model.entries))
        if name not in model.entries:
            raise UsageError(f"{library} has no entry @{name}",
                             "entries: " + ", ".join(model.entries))
        return model[name]

    entry = open_entry(args.library)
    name = entry.name
    values = _load_values(args.values, required=False)
    split = _data(args, args.split)
    x = datasets.fit(split.x, entry.args[0].shape, args.data)
    predicted = workflow.classes(workflow.predict(entry, values, x))
    acc = float((predicted == split.y).mean())
    per_call = workflow.latency(entry, values, x, repeat=50)
    print(f"@{name}: accuracy {100 * acc:.2f}% on {len(x)} samples; "
          f"{per_call * 1e6:.1f} us per call of batch {entry.args[0].shape[0]}")
    if args.against:
        # Simulation against deployment (or any two builds of one model):
        # how many samples change class between them.
        other = open_entry(args.against)
        if other.args[0].shape != entry.args[0].shape:
            raise UsageError(f"{args.against}: input {other.args[0].shape} "
                             f"differs from {args.library}'s "
                             f"{entry.args[0].shape}")
        theirs = workflow.classes(workflow.predict(other, values, x))
        flips = int(np.count_nonzero(theirs != predicted))
        print(f"against {args.against}: the class differs on {flips} of "
              f"{len(x)} samples ({100 * (1 - flips / len(x)):.2f}% agree); "
              f"its accuracy {100 * float((theirs == split.y).mean()):.2f}%")


def cmd_search(args):
    from qat import data as datasets, search, workflow
    text = workflow.with_batch(_read(args.model), args.batch_size)
    if "qat.fake_quant" in text:
        raise UsageError(f"{args.model} is already instrumented",
                         "search takes the float model (from `import` or "
                         "`train`); it instruments each candidate itself")
    try:
        widths = sorted({int(w) for w in args.weight_bits.split(",")},
                        reverse=True)
    except ValueError:
        raise UsageError(f"--weight-bits: expected widths such as 8,4,2, "
                         f"got '{args.weight_bits}'")
    if len(widths) < 2 or not all(2 <= w <= 16 for w in widths):
        raise UsageError(f"--weight-bits: expected at least two widths in "
                         f"2-16, got '{args.weight_bits}'")
    if (args.budget_kib is None) == (args.budget_us is None):
        raise UsageError("expected one budget, --budget-kib (weights) or "
                         "--budget-us (predicted batch-1 latency), got " +
                         ("both" if args.budget_kib else "neither"))
    values = _load_values(args.values)
    out_dir = args.output or _default_out(args.model, ".search")
    os.makedirs(out_dir, exist_ok=True)
    work = args.workdir or os.path.join(out_dir, "build")
    shape = search.input_shape(text)
    train = _data(args)
    train = datasets.Split(datasets.fit(train.x, shape, args.data), train.y)
    test = _data(args, "test")
    test = datasets.Split(datasets.fit(test.x, shape, args.data), test.y)
    log = (lambda m: None) if args.quiet else print
    log(f"sensitivity: each layer at {', '.join(map(str, widths[1:]))} "
        f"bits, the others at {widths[0]}" +
        ("; batch-1 latency of each deployed" if args.budget_us else ""))
    layers, base, cost, latency = search.sensitivities(
        text, values, train, widths, args.act_bits, work,
        last_act_bits=args.last_act_bits, latency=bool(args.budget_us),
        log=log)
    if latency:
        budget, measure = args.budget_us * 1e-6, latency.predict
    else:
        budget, measure = int(args.budget_kib * 1024), \
            search.size_measure(layers)
    chosen = search.choose(layers, cost, widths, budget, measure)
    if chosen is None:
        if latency:
            fastest = min(map(measure, search.combinations(layers, widths)))
            raise UsageError(f"--budget-us {args.budget_us:g}: the fastest "
                             f"widths are predicted at {1e6 * fastest:.1f} us")
        smallest = search.weight_bytes(layers, {l.name: widths[-1]
                                                for l in layers})
        raise UsageError(f"--budget-kib {args.budget_kib:g}: even all "
                         f"layers at {widths[-1]} bits take "
                         f"{smallest / 1024:.1f} KiB")
    front = search.front_with(layers, cost, widths, chosen, measure)
    index = next(i for i, p in enumerate(front) if p[2] == chosen)
    points, reference = [], None
    to_train = [p[2] for p in search.spread(front, args.front_points, index)]
    for _, predicted, bits in front:
        size = search.weight_bytes(layers, bits)
        point = search.Point(bits, size, predicted)
        if bits in to_train:
            tag = "search_" + "_".join(map(str, bits.values()))
            log(f"QAT {args.epochs:g} epochs at widths "
                f"{', '.join(map(str, bits.values()))} "
                f"({size / 1024:.1f} KiB)")
            acc, flips = search.train_point(
                text, values, bits, args.act_bits, train, test, args.epochs,
                args.lr, work, tag, last_act_bits=args.last_act_bits,
                progress=not args.quiet)
            point = point._replace(accuracy=acc, flips=flips)
            log(f"  deployed accuracy {100 * acc:.2f}%, {flips} flips")
            if all(b == widths[0] for b in bits.values()):
                reference = (size, acc)
        points.append(point)
    if reference is None and args.front_points:
        # The all-widest network trained the same way: the accuracy the
        # front is measured against.
        widest = {layer.name: widths[0] for layer in layers}
        log(f"QAT {args.epochs:g} epochs, all layers at {widths[0]} bits")
        acc, _ = search.train_point(
            text, values, widest, args.act_bits, train, test, args.epochs,
            args.lr, work, "search_widest", last_act_bits=args.last_act_bits,
            progress=not args.quiet)
        reference = (search.weight_bytes(layers, widest), acc)
    config = search.write_config(os.path.join(out_dir, "mixed.json"), chosen)
    report = search.write_report(out_dir, layers, base, cost, widths, budget,
                                 chosen, points, reference,
                                 plot=not args.no_plots, latency=latency)
    size = search.weight_bytes(layers, chosen)
    within = (f"{1e6 * latency.predict(chosen):.1f} us predicted (budget "
              f"{args.budget_us:g} us)" if latency else
              f"(budget {args.budget_kib:g})")
    print(f"chosen: {', '.join(f'{n} {b}' for n, b in chosen.items())} "
          f"bits, {size / 1024:.1f} KiB of weights {within} -> {config}; "
          f"report {report}")


def cmd_check(args):
    from qat import check, data as datasets, pipeline, workflow
    frozen = _read(args.model)
    function = workflow.forward_function(frozen)
    work = _workdir(args)
    sim = pipeline.load(workflow.expose_layers(frozen), work, "check_sim")
    integer = pipeline.load(workflow.expose_layers(workflow.convert(frozen)),
                            work, "check_int")
    entry = sim[function]
    split = _data(args, "test")
    x = datasets.fit(split.x, entry.args[0].shape, args.data)
    # Every sample (--limit N for the first N): flips are counted over all.
    print(check.format_report(*check.compare_dataset(entry, integer[function],
                                                     x)))


def cmd_demo(args):
    from qat import demo
    demo.run(args.output or "demo-out", networks=args.networks,
             onnx_path=args.onnx,
             float_epochs=(args.epochs if args.epochs is not None else
                           (0 if args.onnx else 4)),
             qat_epochs=args.qat_epochs, train_limit=args.limit,
             test_limit=args.test_limit, batch=args.batch, data=args.data,
             progress=not args.quiet, plots=not args.no_plots,
             faithful_epochs=args.faithful_epochs,
             pruning_epochs=args.pruning_epochs, mixed=not args.no_mixed)


# Parser ----------------------------------------------------------------------

def _number(kind, low=None, above=None, high=None):
    """An argparse type: a finite number of `kind`, >= low or > above, and
    <= high."""
    def parse(text):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, "
                f"got {text!r}")
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(
                f"expected a finite number, got {text}")
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(
                f"expected a number >= {low}, got {text}")
        if above is not None and value <= above:
            raise argparse.ArgumentTypeError(
                f"expected a number > {above}, got {text}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(
                f"expected a number <= {high}, got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


POSITIVE_INT = _number(int, low=1)
NON_NEGATIVE_INT = _number(int, low=0)
POSITIVE = _number(float, above=0)
NON_NEGATIVE = _number(float, low=0)
UNIT = _number(float, low=0, high=1)


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one `error:` line, a hint and exit status 1, like
    every other user error of the command line."""

    def error(self, message):
        print(f"error: {message}", file=sys.stderr)
        print(f"hint: `{self.prog} --help` lists the options", file=sys.stderr)
        sys.exit(1)


class _VersionAction(argparse.Action):
    """--version: the line qat-opt --version and qat-compile --version
    print."""

    def __call__(self, parser, namespace, values, option_string=None):
        from qat import locations
        print(locations.version_line())
        parser.exit()


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python3 -m qat",
        description="qat-mlir: quantization-aware training and integer "
                    "deployment through MLIR.")
    p.add_argument("--version", action=_VersionAction, nargs=0,
                   help="print the qat-mlir and LLVM versions and exit")
    sub = p.add_subparsers(dest="command", metavar="command")

    def command(name, help_):
        c = sub.add_parser(name, help=help_, description=help_)
        c.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bars")
        c.add_argument("--options", metavar="FILE.json",
                       help="option values from a JSON object (keys as the "
                            "long flags, e.g. {\"weight-bits\": 4, \"lr\": "
                            "0.01}); flags given on the command line win")
        return c

    def data_options(c, default="fashion-mnist"):
        c.add_argument("--data", default=default,
                       help="'fashion-mnist' (Debian's dataset-fashion-mnist) "
                            "or a .npz with arrays x and y")
        c.add_argument("--limit", type=POSITIVE_INT, help="use the first N samples")

    def distributed_options(c, bucket=False):
        c.add_argument("--distributed", action="store_true",
                       help="data-parallel over the ranks of `mpirun -np N` "
                            "(docs/Distributed.md)")
        if bucket:
            c.add_argument("--bucket-mb", type=NON_NEGATIVE, default=4.0,
                           help="--distributed: gradients are all-reduced "
                                "in buckets of this many MiB, last layer "
                                "first (0: one bucket)")

    def batch_size(c):
        c.add_argument("--batch-size", type=POSITIVE_INT,
                       help="samples per step (per rank with --distributed); "
                            "default: the batch the model was imported at. "
                            "The program is recompiled at this batch "
                            "(qat-set-batch); values do not depend on it")

    def build_dir(c):
        c.add_argument("--workdir", help="where compiled programs go "
                       "(default: .qat-build beside the output)")

    from qat import data as data_module
    c = command("import", "ONNX model -> MLIR (linalg on tensors) + "
                "parameters (.npz)")
    c.add_argument("model", help="model.onnx")
    c.add_argument("-o", "--output", help="model.mlir")
    c.add_argument("--params", help="parameters .npz (default: beside -o)")
    c.add_argument("--batch", type=POSITIVE_INT, default=64,
                   help="static batch size for a symbolic batch dimension")
    c.add_argument("--name", help="function name (default: the graph's)")
    c.add_argument("--normalize", metavar="DATASET|MEAN/STD",
                   help="put (x - mean) / std per channel on the inputs, "
                        "inside the program, so that training, eval and the "
                        "deployed library all apply it: "
                        f"{', '.join(data_module.NORMALIZATIONS)}, or e.g. "
                        "0.5,0.5,0.5/0.25,0.25,0.25 (data stays scaled to "
                        "[0, 1])")
    c.set_defaults(run=cmd_import)

    c = command("instrument", "place fake-quant ops (qat-fold-batchnorm + "
                "qat-instrument)")
    c.add_argument("model")
    c.add_argument("-o", "--output")
    c.add_argument("--weight-bits", type=int, default=8)
    c.add_argument("--act-bits", type=int, default=8)
    c.add_argument("--last-act-bits", type=int,
                   help="bits of the last layer's output (a classifier's "
                        "logits); default 8 when --act-bits is below 8, "
                        "else --act-bits (0)")
    c.add_argument("--config", help="per-layer JSON config "
                   "(docs/Instrumentation.md)")
    c.add_argument("--dry-run", action="store_true",
                   help="print the plan (layers, where fake-quants go) and "
                        "write nothing")
    c.add_argument("--report", help="also write the plan to this file")
    c.add_argument("--prune", metavar="SPEC",
                   help="also prune every layer's weight (qat-prune): a "
                        "sparsity such as 0.5, N:M such as 2:4, or a "
                        "sparsity of KxN blocks such as 0.75/4x16; the "
                        "config's prune keys apply per layer")
    c.set_defaults(run=cmd_instrument)

    c = command("prune", "mask weights by magnitude or N:M before their "
                "fake-quant (qat-prune, docs/Pruning.md)")
    c.add_argument("model")
    c.add_argument("-o", "--output")
    c.add_argument("--prune", metavar="SPEC",
                   help="every layer: a sparsity such as 0.5, N:M such as "
                        "2:4, or a sparsity of KxN blocks (K along the "
                        "reduction axis, N output channels) such as "
                        "0.75/4x16")
    c.add_argument("--config", help="per-layer JSON config with prune keys")
    c.set_defaults(run=cmd_prune)

    c = command("calibrate", "activation ranges on data -> scales and zero "
                "points (post-training quantization)")
    c.add_argument("model", help="instrumented model (.qat.mlir)")
    c.add_argument("--values", nargs="+",
                   help=".npz files of parameter values (required)")
    c.add_argument("-o", "--output")
    c.add_argument("--batches", type=POSITIVE_INT, default=32)
    c.add_argument("--refine", action="store_true",
                   help="then choose each scale by the loss on labelled "
                        "data (loss-aware ranges; better for 4 bits and "
                        "fewer)")
    c.add_argument("--refine-batches", type=POSITIVE_INT, default=8,
                   help="batches --refine scores the loss on")
    batch_size(c)
    distributed_options(c)
    data_options(c)
    build_dir(c)
    c.set_defaults(run=cmd_calibrate)

    c = command("train", "train through the compiled train step (float, or "
                "QAT on an instrumented model)")
    c.add_argument("model")
    c.add_argument("--values", nargs="+",
                   help=".npz files of values (required)")
    c.add_argument("-o", "--output")
    c.add_argument("--epochs", type=POSITIVE, default=1)
    batch_size(c)
    c.add_argument("--lr", type=POSITIVE, default=0.05,
                   help="the learning rate the schedule starts from")
    from qat.workflow import SCHEDULES
    c.add_argument("--schedule", choices=SCHEDULES,
                   default="cosine",
                   help="learning rate over the run: cosine decay to 0, "
                        "constant, or step (divided by 10 at half the steps "
                        "and again at three quarters)")
    c.add_argument("--warmup", type=NON_NEGATIVE_INT, default=0,
                   metavar="STEPS",
                   help="ramp the learning rate up linearly over the first "
                        "STEPS steps")
    c.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    c.add_argument("--momentum", type=NON_NEGATIVE, default=0.9)
    c.add_argument("--weight-decay", type=NON_NEGATIVE, default=0.0)
    c.add_argument("--range-learning", choices=["lsq", "ema", "none"],
                   default="lsq")
    c.add_argument("--prune-end", type=NON_NEGATIVE_INT, metavar="STEP",
                   help="sparsity schedule for a pruned model (docs/"
                        "Pruning.md): masks are recomputed every "
                        "--prune-every steps from --prune-begin to this "
                        "step, magnitude sparsity rising from "
                        "--prune-initial-sparsity to each layer's target as "
                        "s_f + (s_i - s_f)(1 - p)^3, then frozen; pruned "
                        "weights stay exactly 0")
    c.add_argument("--prune-begin", type=NON_NEGATIVE_INT, default=0,
                   metavar="STEP")
    c.add_argument("--prune-every", type=POSITIVE_INT, default=100,
                   metavar="STEPS")
    c.add_argument("--prune-initial-sparsity", type=float, default=0.0,
                   metavar="S")
    c.add_argument("--faithful", action="store_true",
                   help="keep the scales and zero points of --values and "
                        "train the weights through the faithful simulation "
                        "(what is trained is what deploys, bit for bit)")
    c.add_argument("--teacher", metavar="FROZEN.mlir",
                   help="distil from this frozen float forward (`freeze "
                        "float.mlir --values float.trained.npz --function "
                        "NAME`): the loss becomes (1 - w) cross-entropy + w "
                        "T^2 KL(teacher || model)")
    c.add_argument("--distill-temperature", type=POSITIVE, default=4.0,
                   metavar="T")
    c.add_argument("--distill-weight", type=UNIT, default=0.5, metavar="W")
    c.add_argument("--seed", type=NON_NEGATIVE_INT, default=0,
                   help="seed of the data shuffling (the same on every rank)")
    c.add_argument("--accumulate", type=POSITIVE_INT, default=1,
                   metavar="N",
                   help="average the gradients of N batches per update (a "
                        "global batch N times the model's)")
    c.add_argument("--deterministic", action="store_true",
                   help="sum gradients in one fixed order (rank by rank, "
                        "batch by batch): N ranks give the same bits as one "
                        "process with --accumulate N")
    c.add_argument("--checkpoint-every", type=NON_NEGATIVE_INT, default=0,
                   metavar="K",
                   help="every K steps, write the values, optimizer state "
                        "and data position to --checkpoint (0: never)")
    c.add_argument("--checkpoint", metavar="FILE.npz",
                   help="the checkpoint file (default: OUTPUT.checkpoint.npz)")
    c.add_argument("--resume", metavar="FILE.npz",
                   help="continue from a checkpoint of the same run")
    distributed_options(c, bucket=True)
    data_options(c)
    build_dir(c)
    c.set_defaults(run=cmd_train)

    c = command("freeze", "values -> constants (qat-freeze)")
    c.add_argument("model")
    c.add_argument("--values", nargs="+",
                   help=".npz files of values (required)")
    c.add_argument("-o", "--output")
    c.add_argument("--function")
    c.set_defaults(run=cmd_freeze)

    c = command("convert", "frozen QAT model -> integer linalg "
                "(qat-convert-to-integer)")
    c.add_argument("model")
    c.add_argument("-o", "--output")
    c.add_argument("--allow-collapsed", action="store_true",
                   help="convert layers whose activation range collapsed to "
                   "a point (an error otherwise: they deploy as constants)")
    c.set_defaults(run=cmd_convert)

    c = command("compile", "MLIR -> shared library (qat-compile)")
    c.add_argument("model")
    c.add_argument("-o", "--output")
    c.add_argument("--flag", action="append",
                   help="extra qat-compile flag (repeatable)")
    c.set_defaults(run=cmd_compile)

    c = command("eval", "accuracy and latency of a compiled model through "
                "the runtime")
    c.add_argument("library")
    c.add_argument("--values", nargs="*",
                   help="parameter values when the model takes them")
    c.add_argument("--entry")
    c.add_argument("--split", choices=["train", "test"], default="test")
    c.add_argument("--against", metavar="LIBRARY",
                   help="another build of the model (the QAT simulation of "
                        "a deployed library): count the samples whose class "
                        "differs between the two")
    data_options(c)
    c.set_defaults(run=cmd_eval)

    c = command("search", "mixed precision: weight bits per layer under a "
                "size or latency budget, from measured sensitivity; the "
                "Pareto front trained and deployed (docs/Training.md)")
    c.add_argument("model", help="float model (.mlir from import or train)")
    c.add_argument("--values", nargs="+",
                   help=".npz files of trained float values (required)")
    c.add_argument("--budget-kib", type=POSITIVE,
                   help="the deployed weights' size limit, KiB")
    c.add_argument("--budget-us", type=POSITIVE,
                   help="instead: the limit of the predicted batch-1 latency, "
                        "microseconds (each layer's width measured alone on "
                        "the deployed program, the changes summed)")
    c.add_argument("--weight-bits", default="8,4,2",
                   help="candidate weight widths, comma-separated")
    c.add_argument("--act-bits", type=int, default=8)
    c.add_argument("--last-act-bits", type=int,
                   help="bits of the last layer's output (default: "
                        "--act-bits)")
    c.add_argument("--front-points", type=NON_NEGATIVE_INT, default=4,
                   help="front points to train and deploy (the chosen one "
                        "among them); 0: only predict")
    c.add_argument("--epochs", type=NON_NEGATIVE, default=1,
                   help="QAT epochs per trained point (Adam)")
    c.add_argument("--lr", type=POSITIVE, default=1e-3,
                   help="Adam learning rate of the trained points (1e-3 beat "
                        "1e-4 and 3e-4 at 2 bits; docs/Training.md)")
    c.add_argument("-o", "--output", help="output folder (default: "
                   "<model>.search): mixed.json (the instrument config), "
                   "search.md, pareto.png")
    c.add_argument("--no-plots", action="store_true")
    batch_size(c)
    data_options(c)
    build_dir(c)
    c.set_defaults(run=cmd_search)

    c = command("check", "differential checker: the frozen QAT model vs its "
                "integer conversion, layer by layer")
    c.add_argument("model", help="frozen model (.frozen.mlir)")
    c.add_argument("-o", "--output", help=argparse.SUPPRESS)
    data_options(c)
    build_dir(c)
    c.set_defaults(run=cmd_check)

    c = command("demo", "Fashion-MNIST: float training, PTQ and QAT at int8, "
                "W4A8 and W4A4, mixed precision, pruning, integer "
                "deployment, report")
    c.add_argument("-o", "--output", help="report folder (default demo-out)")
    c.add_argument("--networks", nargs="+", choices=["mlp", "cnn"],
                   default=["mlp", "cnn"])
    c.add_argument("--onnx", help="a float ONNX model to use instead")
    c.add_argument("--epochs", type=NON_NEGATIVE,
                   help="float training epochs (default 4; 0 with --onnx)")
    c.add_argument("--qat-epochs", type=NON_NEGATIVE, default=1)
    c.add_argument("--faithful-epochs", type=NON_NEGATIVE, default=0.25,
                   help="W4A8 and W4A4 fine-tuning through the faithful "
                        "simulation after QAT (0: skip)")
    c.add_argument("--no-mixed", action="store_true",
                   help="skip the mixed-precision search and its row")
    c.add_argument("--pruning-epochs", type=NON_NEGATIVE,
                   help="QAT fine-tuning of each pruned int8 row (50%%, 75%%, "
                        "2:4; default: --qat-epochs; 0: skip them)")
    c.add_argument("--batch", type=POSITIVE_INT, default=64)
    c.add_argument("--test-limit", type=POSITIVE_INT)
    c.add_argument("--no-plots", action="store_true")
    data_options(c)
    c.set_defaults(run=cmd_demo)
    return p


def _option_value(path, key, action, value):
    """`value` from an options file, checked and converted as the command
    line would (a wrong type is a UsageError naming the key)."""
    import json

    def bad(expected):
        return UsageError(f"{path}: '{key}': expected {expected}, got "
                          f"{json.dumps(value)}")

    if action.nargs == 0:  # a flag: store_true and the like
        if not isinstance(value, bool):
            raise bad("true or false")
        return action.const if value else action.default
    values = value if isinstance(value, list) and action.nargs in (
        "+", "*") else [value]
    converted = []
    for v in values:
        if isinstance(v, (dict, list, bool)):
            raise bad("a " + (action.type.__name__ if action.type else
                              "string"))
        text = str(v)
        if action.type:
            try:
                v = action.type(text)
            except (argparse.ArgumentTypeError, TypeError, ValueError) as err:
                raise UsageError(f"{path}: '{key}': {err}") from None
        else:
            v = text
        if action.choices is not None and v not in action.choices:
            raise bad("one of " + ", ".join(map(str, action.choices)))
        converted.append(v)
    return converted if action.nargs in ("+", "*") else converted[0]


def _with_options_file(p: argparse.ArgumentParser, argv, args):
    """Re-parses with the JSON file's values as defaults."""
    import json
    try:
        with open(args.options) as f:
            options = json.load(f)
    except OSError as err:
        raise UsageError(f"{args.options}: {err.strerror}")
    except ValueError as err:
        raise UsageError(f"{args.options}: not JSON ({err})")
    if not isinstance(options, dict):
        raise UsageError(f"{args.options}: expected a JSON object")
    sub = next(a for a in p._actions
               if isinstance(a, argparse._SubParsersAction))
    command = sub.choices[args.command]
    known = {a.dest: a for a in command._actions}
    defaults = {}
    for key, value in options.items():
        dest = key.lstrip("-").replace("-", "_")
        if dest not in known or dest in ("options", "help", "run"):
            raise UsageError(f"{args.options}: '{key}' is not an option of "
                             f"`{args.command}`",
                             f"python3 -m qat {args.command} --help lists "
                             "them")
        defaults[dest] = _option_value(args.options, key, known[dest], value)
    command.set_defaults(**defaults)
    return p.parse_args(argv)


def _main(p, args, argv):
    """Runs the command; returns (exit status, the parsed arguments)."""
    if not getattr(args, "run", None):
        p.print_help()
        return 1, args
    if args.options:
        try:
            args = _with_options_file(p, argv, args)
        except UsageError as err:
            print(f"error: {err}", file=sys.stderr)
            if err.hint:
                print(f"hint: {err.hint}", file=sys.stderr)
            return 1, args
    from qat.data import DataError
    from qat.onnx_import import OnnxImportError
    from qat.pipeline import ToolError
    from qat.runtime import QatError
    try:
        args.run(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        if err.hint:
            print(f"hint: {err.hint}", file=sys.stderr)
        return 1, args
    except OnnxImportError as err:
        print(f"error: {err}", file=sys.stderr)
        if "supported" in str(err):
            print("hint: docs/Frontend.md lists the supported ONNX ops and "
                  "attributes", file=sys.stderr)
        return 1, args
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1, args
    except ToolError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1, args
    except (KeyError, ValueError, FloatingPointError, QatError) as err:
        message = err.args[0] if isinstance(err, KeyError) else str(err)
        print(f"error: {message}", file=sys.stderr)
        if isinstance(err, KeyError):
            print("hint: pass every values file the model needs with "
                  "--values (parameters, and scales after calibrate)",
                  file=sys.stderr)
        return 1, args
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130, args
    except Exception as err:  # noqa: BLE001 - a bug of ours, not the user's
        if type(err).__module__.startswith("mpi4py"):
            # MPI failed under us (a lost peer, a network error).
            print(f"error: MPI: {err}", file=sys.stderr)
            return 1, args
        if os.environ.get("QAT_DEBUG"):
            raise
        print(f"error: internal error in `{args.command}`: "
              f"{type(err).__name__}: {err}", file=sys.stderr)
        print("hint: this is a qat-mlir bug; QAT_DEBUG=1 shows the traceback",
              file=sys.stderr)
        return 2, args
    return 0, args


def main(argv=None) -> int:
    """The command, and in a --distributed run, every rank stopped when one
    fails: the others would wait in a reduction forever."""
    p = parser()
    args = p.parse_args(argv)
    status, args = _main(p, args, argv)
    comm = getattr(args, "comm", None)
    if status != 0 and comm is not None and comm.size > 1:
        print(f"error: rank {comm.rank} of {comm.size} failed; stopping "
              "every rank", file=sys.stderr)
        sys.stderr.flush()
        comm.abort(status)
    return status
