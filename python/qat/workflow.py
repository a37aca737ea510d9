"""The compiler pipeline as Python steps, shared by the CLI and the demo.

A network is MLIR text (a forward function with `qat.name`d arguments) plus
a dict of values by name: parameters ("fc0.weight") and, once instrumented,
scales and zero points ("matmul_0.act_scale"). Every step is a function of
text and values:

    text = instrument(text, weight_bits=8)  # qat-instrument-pipeline
    text = with_batch(text, 128)              # qat-set-batch
    trainer = Trainer(text, values, "work/")  # qat-train-pipeline, compiled
    trainer.calibrate(x)                      # @calibrate + @qparams (PTQ)
    history = trainer.fit(data, epochs, lr)   # @train_step per batch
    frozen = freeze(text, trainer.values, "cnn")  # qat-freeze (.npz values)
    integer = convert(frozen)                 # qat-deploy-pipeline

Each compiler step runs a pipeline (or pass) by its registered name.
"""

import math
import os
import tempfile
import time
from typing import (Callable, Dict, List, NamedTuple, Optional, Sequence,
                    Tuple)

import numpy as np

from qat import distributed, pipeline
from qat.data import Split
from qat.runtime import Entry, Model


def with_batch(text: str, size: Optional[int]) -> str:
    """`text` with batch size `size` (qat-set-batch; None: unchanged). The
    values of a model do not depend on its batch."""
    return text if size is None else pipeline.run(text, "qat-set-batch",
                                                  size=size)


def instrument(text: str, weight_bits: int = 8, act_bits: int = 8,
               config: Optional[str] = None, **options) -> str:
    """qat-instrument-pipeline (batch-norm folding, then fake quantization);
    `options` are the pipeline's other options (per_channel=False, ...)."""
    return pipeline.run(text, "qat-instrument-pipeline",
                        weight_bits=weight_bits, act_bits=act_bits,
                        config=config, **options)


def prune(text: str, spec: Optional[str] = None,
          config: Optional[str] = None) -> str:
    """qat-prune: `spec` is a sparsity ("0.5", by magnitude), "N:M"
    ("2:4") or a sparsity of KxN blocks ("0.75/4x16") for every layer;
    `config` the per-layer JSON config."""
    options = {"config": config}
    if spec is not None:
        sparsity, _, block = spec.partition("/")
        if ":" in spec:
            options["pattern"] = spec
        else:
            options.update(sparsity=sparsity, block=block or None)
    return pipeline.run(text, "qat-prune", **options)


def teacher_file(text: str, values: Dict[str, np.ndarray], function: str,
                 path: str) -> str:
    """The float network `text` frozen with its trained `values` into
    `path` (written whole or not at all): a teacher for
    Trainer(teacher=path). Returns `path`."""
    frozen = freeze(text, values, function)
    with pipeline.replacing(path) as f:
        f.write(frozen)
    return path


def freeze(text: str, values: Dict[str, np.ndarray], function: str) -> str:
    """qat-freeze: `values` (every scale and zero point, and the weights)
    become constants of `function`; they travel as an .npz archive."""
    fd, path = tempfile.mkstemp(suffix=".npz")
    os.close(fd)
    try:
        pipeline.save_values(path, values)
        return pipeline.run(text, "qat-freeze", values=path,
                            function=function)
    finally:
        os.unlink(path)


def faithful(frozen_scales: str) -> str:
    """qat-faithful: each layer of a function whose scales are frozen also
    computes its integer form (training then sees the deployed values)."""
    return pipeline.run(frozen_scales, "qat-faithful")


def expose_layers(text: str) -> str:
    """qat-expose-layers: every layer's quantized output becomes a result."""
    return pipeline.run(text, "qat-expose-layers")


def convert(frozen: str, allow_collapsed: bool = False) -> str:
    """qat-deploy-pipeline: a frozen QAT program to integer linalg. A layer
    whose activation range collapsed to a point is an error naming it,
    unless `allow_collapsed`."""
    return pipeline.run(frozen, "qat-deploy-pipeline",
                        allow_collapsed_ranges=True if allow_collapsed
                        else None)


#: How qat-instrument names the scales and zero points it adds.
QPARAM_SUFFIXES = (".weight_scale", ".act_scale", ".act_zero_point")


def split_qparams(values: Dict[str, np.ndarray]):
    """(scales and zero points, the other values), by qat-instrument's
    names."""
    qparams = {k: v for k, v in values.items() if k.endswith(QPARAM_SUFFIXES)}
    return qparams, {k: v for k, v in values.items() if k not in qparams}


def faithful_trainer(text: str, values: Dict[str, np.ndarray], function: str,
                     workdir: str, name: str = "faithful", **options):
    """A Trainer of the faithful simulation of the instrumented `text`: the
    scales and zero points of `values` frozen (qat-freeze), every layer
    computing the integer result deployment computes (qat-faithful), the
    weights trained. Returns (trainer, the frozen scales and zero points);
    the deployable values are dict(qparams, **trainer.values)."""
    qparams, params = split_qparams(values)
    if not qparams:
        raise ValueError("faithful training needs the scales and zero points "
                         "of an instrumented model (calibrate or train it "
                         "first)")
    program = faithful(freeze(text, qparams, function))
    return Trainer(program, params, workdir, name, **options), qparams


def forward_function(text: str) -> str:
    """The name of the first public function in `text`."""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("func.func @"):
            return line[len("func.func @"):].split("(")[0]
    raise pipeline.ToolError("no function in the module")


class Diverged(FloatingPointError):
    """Training diverged at `step`: the step's loss was not finite, grew
    past DIVERGENCE times the first step's, or its update produced a value
    that is not finite. The trainer keeps the values of the last good
    step."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


#: A loss this many times the first step's means training diverged.
DIVERGENCE = 1000.0


#: The smallest scale choose_qparams gives (qat.choose_qparams' eps): a
#: range that collapsed to a point.
SCALE_FLOOR = np.float32(1.1920928955078125e-07)


def collapsed_ranges(qparams: Dict[str, np.ndarray]) -> List[str]:
    """The scales of `qparams` that sit at the floor: their range collapsed
    (the calibration data were constant there), so their layers would
    deploy with a useless grid."""
    return sorted(name for name, value in qparams.items()
                  if name.endswith("_scale")
                  and np.any(np.asarray(value) <= SCALE_FLOOR))


#: Trainer.refine_scales' candidate multipliers of each calibrated scale.
REFINE_FACTORS = (1.25, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)


#: Learning-rate schedules of Trainer.fit and `train --schedule`.
SCHEDULES = ("cosine", "constant", "step")


def learning_rate(schedule: str, lr: float, step: int, total: int,
                  warmup: int = 0) -> float:
    """The learning rate of 0-based `step` of `total`:
    cosine    lr * (1 + cos(pi * step / total)) / 2
    constant  lr
    step      lr, then lr / 10 from half of the steps, lr / 100 from three
              quarters
    times (step + 1) / warmup during the first `warmup` steps (a linear
    warm-up)."""
    if schedule == "cosine":
        rate = 0.5 * lr * (1 + math.cos(math.pi * step / total))
    elif schedule == "constant":
        rate = lr
    elif schedule == "step":
        rate = lr * (0.1 ** (int(step >= total / 2) + int(step >= 0.75 * total)))
    else:
        raise ValueError(f"schedule: expected one of {', '.join(SCHEDULES)}, "
                         f"found {schedule!r}")
    if step < warmup:
        rate *= (step + 1) / warmup
    return rate


def batches(n: int, batch: int, rng=None, drop_last=True):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    stop = n - n % batch if drop_last else n
    for start in range(0, stop, batch):
        yield order[start:start + batch]


def _progress(total: int, desc: str, enabled: bool):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - setup installs python3-tqdm
        tqdm = None
    if tqdm is None or not enabled:
        class Silent:
            def update(self, n=1): pass
            def set_postfix_str(self, s): pass
            def close(self): pass
        return Silent()
    return tqdm(total=total, desc=desc, unit="step", leave=False,
                dynamic_ncols=True)


class PruneSchedule(NamedTuple):
    """The sparsity schedule of qat-build-train-step (docs/Pruning.md):
    masks recomputed at the 1-based steps prune_begin, prune_begin +
    prune_every, ... up to prune_end (and at it), then frozen; magnitude
    masks at s(t) = s_f + (s_i - s_f)(1 - p)^3."""
    prune_begin: int
    prune_end: int
    prune_every: int = 100
    prune_initial_sparsity: float = 0.0


#: The generated functions of a step split into gradients, reduction and
#: update (Trainer._split_step): compiled only for several micro-batches.
SPLIT_STEP = ("gradients", "train_gradients", "apply_update", "advance_masks")


class Trainer:
    """A compiled training program (`qat-build-train-step`) of `text` and
    its state: values by name, optimizer state, observers.

    With `comm` (qat.distributed.World) the trainer is one rank of a
    data-parallel job: the program is compiled once (rank 0), each rank
    trains on its shard of every global batch, and gradients and observers
    are reduced across the ranks, so every rank holds the same values.
    `accumulate` micro-batches per rank make one update: a global batch of
    batch x accumulate x ranks samples, which the program knows
    (batch-shards: LSQ's gradient scale counts the global batch).
    `functions` compiles only those generated functions: ("calibrate",
    "qparams") is a calibrator, compiled in a fraction of the time. Else
    every generated function is compiled, except that the split step's
    (SPLIT_STEP: @gradients, @apply_update, ...), which only data-parallel
    and accumulated updates call, is left out unless `split_step` is true
    (default: when there are several micro-batches).
    `teacher`: knowledge distillation from the frozen float forward in that
    MLIR file (`teacher_file`), inlined into the step: the loss becomes
    (1 - distill_weight) * cross-entropy + distill_weight * T^2 *
    KL(teacher || student) at temperature T = distill_temperature
    (docs/Training.md)."""

    def __init__(self, text: str, values: Dict[str, np.ndarray],
                 workdir: str, name: str = "train", optimizer: str = "sgd",
                 momentum: float = 0.9, weight_decay: float = 0.0,
                 range_learning: str = "lsq", comm=None,
                 accumulate: int = 1,
                 functions: Optional[Sequence[str]] = None,
                 prune_schedule: Optional["PruneSchedule"] = None,
                 teacher: Optional[str] = None,
                 distill_temperature: float = 4.0,
                 distill_weight: float = 0.5,
                 split_step: Optional[bool] = None):
        self.text = text  # the forward the training step was built from
        self.comm = comm or distributed.Single()
        self.accumulate = accumulate
        shards = accumulate * self.comm.size
        schedule = prune_schedule._asdict() if prune_schedule else {}
        distill = (dict(teacher=teacher, distill_temperature=distill_temperature,
                        distill_weight=distill_weight) if teacher else {})
        # On one process every update is @train_step: the split step
        # (gradients, reduction, update) is compiled only when asked for.
        if split_step is None:
            split_step = shards > 1
        omit = None if functions or split_step else ",".join(SPLIT_STEP)
        self.model: Model = distributed.load_program(
            self.comm,
            lambda: pipeline.run(text, "qat-train-pipeline",
                                 optimizer=optimizer, momentum=momentum,
                                 weight_decay=weight_decay,
                                 range_learning=range_learning,
                                 batch_shards=shards if shards > 1 else None,
                                 functions=",".join(functions)
                                 if functions else None,
                                 omit_functions=omit, **schedule,
                                 **distill),
            workdir, name)
        # The training step, or (a calibration-only program) @calibrate:
        # either names every argument the trainer holds values for.
        self.step_entry: Entry = self.model.entries.get(
            "train_step") or self.model.calibrate
        if prune_schedule and shards > 1 and \
                "advance_masks" not in self.model.entries:
            raise ValueError("a sparsity schedule over several micro-batches "
                             "needs masks that read parameters directly "
                             "(@advance_masks); train on one process without "
                             "--accumulate")
        self.values = dict(values)
        self.require("param")
        # Scheduled pruning masks (`mask:<layer>`, 1 kept, 0 pruned) are
        # values: saved with the weights, read by qat-freeze. A new one
        # keeps everything until the schedule first prunes.
        for info in self.step_entry.args:
            if info.name.startswith("mask:") and info.name not in self.values:
                self.values[info.name] = np.ones(info.shape, np.float32)
        self.state: Dict[str, np.ndarray] = {}
        for info in self.step_entry.args:
            kind = info.name.partition(":")[0]
            if kind in ("momentum", "adam_m", "adam_v"):
                self.state[info.name] = np.zeros(info.shape, np.float32)
        self.reset_observers()
        self.batch = next(i.shape[0] for i in self.step_entry.args
                          if i.name.startswith("input:"))
        self.input_shape = next(i.shape for i in self.step_entry.args
                                if i.name.startswith("input:"))
        self.step = 0

    def require(self, kind: str) -> None:
        """KeyError naming the first `kind:` argument without a value."""
        for info in self.step_entry.args:
            k, _, bare = info.name.partition(":")
            if k == kind and bare not in self.values:
                raise KeyError(f"no value for argument '{info.name}' of "
                               "@train_step")

    def reset_observers(self) -> None:
        for info in (i for e in self.model.entries.values() for i in e.args):
            if info.name.startswith("act_min:"):
                self.state[info.name] = np.array(np.inf, np.float32)
            elif info.name.startswith("act_max:"):
                self.state[info.name] = np.array(-np.inf, np.float32)

    def _values(self, extra) -> Dict[str, np.ndarray]:
        merged = dict(self.values)
        merged.update(self.state)
        merged.update(extra)
        return merged

    def calibrate(self, x: np.ndarray, max_batches: int = 32,
                  progress: bool = False) -> Dict[str, np.ndarray]:
        """Runs the float forward over `x` (running min/max per activation)
        and returns the scales and zero points it implies (@qparams)."""
        self.reset_observers()
        calibrate = self.model.calibrate
        n = min(len(x) // self.batch, max_batches)
        if n == 0:
            raise ValueError(f"calibration needs at least {self.batch} "
                             f"samples, got {len(x)}")
        input_name = next(i.name for i in calibrate.args
                          if i.name.startswith("input:"))
        # Rank r observes batches r, r + size, ...; min and max over the
        # ranks then give exactly the ranges of all n batches.
        mine = range(self.comm.rank, n, self.comm.size)
        bar = _progress(len(mine), "calibrate",
                        progress and self.comm.rank == 0)
        for i in mine:
            chunk = x[i * self.batch:(i + 1) * self.batch]
            out = pipeline.named_call(calibrate,
                                      self._values({input_name: chunk}))
            self.state.update(out)
            bar.update()
        bar.close()
        self.comm.reduce_ranges(self.state)
        qparams = pipeline.named_call(self.model.qparams, self._values({}))
        self.values.update(qparams)
        return qparams

    def loss(self, data: Split, batches: int = 8,
             purpose: str = "the loss") -> float:
        """The mean loss (@eval_step) of the current values over the first
        `batches` batches of `data`."""
        entry = self.model.eval_step
        input_name = next(i.name for i in entry.args
                          if i.name.startswith("input:"))
        n = min(batches, len(data.x) // self.batch)
        if n == 0:
            raise ValueError(f"{purpose} needs at least {self.batch} "
                             f"samples, got {len(data.x)}")
        self._check_labels(data.y)
        b = self.batch
        return float(np.mean([pipeline.named_call(entry, self._values({
            input_name: data.x[i * b:(i + 1) * b],
            "labels": data.y[i * b:(i + 1) * b]}))["loss"]
            for i in range(n)]))

    def refine_scales(self, data: Split, factors: Sequence[float] =
                      REFINE_FACTORS, batches: int = 8, rounds: int = 2,
                      progress: bool = False) -> Tuple[float, float]:
        """Loss-aware ranges (LAPQ, Nahshan et al. 2019), for LSQ's initial
        scales: each scale in turn (a layer's per-channel weight scales
        together) is multiplied by the factor of `factors` that gives the
        quantized network its lowest mean loss (@eval_step) on the first
        `batches` batches of `data`, the other scales held; `rounds` sweeps
        over all of them, in argument order. Zero points stay. A factor
        wins only by lowering the loss (by more than a millionth), so the
        loss never rises. Min/max
        ranges are too wide at 4 bits: clipping a few outliers buys
        resolution for everything else. Returns (loss before, loss after)."""
        self.require("qparam")
        entry = self.model.eval_step
        self.loss(data, batches, "refining scales")  # checks `data`

        def loss() -> float:
            return self.loss(data, batches)

        scales = [i.name.partition(":")[2] for i in entry.args
                  if i.name.startswith("qparam:")
                  and i.name.endswith("_scale")]
        before = best = loss()
        bar = _progress(rounds * len(scales), "refine scales",
                        progress and self.comm.rank == 0)
        for _ in range(rounds):
            for name in scales:
                base = self.values[name]
                chosen = None
                for factor in factors:
                    self.values[name] = (base * np.float32(factor)).astype(
                        np.float32)
                    value = loss()
                    if value < best * (1 - 1e-6):
                        best, chosen = value, self.values[name]
                self.values[name] = base if chosen is None else chosen
                bar.update()
        bar.close()
        return before, best

    def sync_observed_ranges(self) -> None:
        """With moving-average observers (range_learning="ema") the scales
        and zero points the training step used are the ones @qparams
        computes from the observers, not the calibrated ones in `values`:
        copies them into `values`, which saving and freezing read."""
        observed = any(name.startswith("act_min:") for name in self.state)
        emits_scales = any(r.name.startswith("qparam:")
                           for r in self.step_entry.results)
        if observed and not emits_scales and "qparams" in self.model.entries:
            self.values.update(pipeline.named_call(self.model.qparams,
                                                   self._values({})))

    def _check_labels(self, y: np.ndarray) -> None:
        """Class labels must index the model's outputs (cross-entropy):
        anything else would train silently on garbage."""
        labels = next((i for i in self.step_entry.args if i.name == "labels"),
                      None)
        outputs = [r for r in self.model.eval_step.results
                   if r.name.startswith("output:")]
        if labels is None or not outputs or not np.issubdtype(
                labels.dtype, np.integer):
            return
        classes = outputs[0].shape[-1]
        y = np.asarray(y)
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"labels must be integer class indices, got "
                             f"{y.dtype}")
        if len(y) and (y.min() < 0 or y.max() >= classes):
            bad = int(y.min()) if y.min() < 0 else int(y.max())
            raise ValueError(f"labels must be class indices in [0, {classes})"
                             f" (the model has {classes} outputs), found "
                             f"{bad}")

    def fit(self, data: Split, epochs: float, lr: float,
            progress: bool = True, desc: str = "train", seed: int = 0,
            log_every: int = 20, on_epoch: Optional[Callable] = None,
            deterministic: bool = False,
            checkpoint: Optional[str] = None, checkpoint_every: int = 0,
            resume: Optional[str] = None, schedule: str = "cosine",
            warmup: int = 0):
        """SGD over `data` for `epochs` (a fraction runs part of one), the
        learning rate from `lr` on `schedule` after `warmup` steps
        (learning_rate); returns the loss history [(step, loss)], averaged
        over `log_every` steps.

        A step takes a global batch of batch x accumulate x ranks samples:
        each rank computes the gradients of its `accumulate` micro-batches,
        and their mean over every rank's micro-batches is applied once.
        `deterministic` sums the micro-batches' gradients in one fixed order
        (qat.distributed). Every `checkpoint_every` steps rank 0 writes the
        values, the optimizer state and the position in the data to
        `checkpoint`; `resume` continues from such a file."""
        self.require("qparam")
        rng = np.random.default_rng(seed)
        comm, accumulate = self.comm, self.accumulate
        shards = accumulate * comm.size
        global_batch = self.batch * shards
        per_epoch = len(data.x) // global_batch
        total = max(1, int(round(per_epoch * epochs)))
        if per_epoch == 0:
            raise ValueError(f"training needs at least {global_batch} samples "
                             f"(the global batch: {self.batch} x "
                             f"{accumulate} accumulated x {comm.size} ranks), "
                             f"got {len(data.x)}")
        input_name = next(i.name for i in self.step_entry.args
                          if i.name.startswith("input:"))
        self._check_labels(data.y)
        done = 0
        if resume:
            done = self._restore(resume, total, global_batch)
        # The shuffles of the epochs a resumed run has finished, replayed.
        for _ in range(done // per_epoch):
            rng.permutation(len(data.x))
        skip = done % per_epoch
        history, window = [], []
        first_loss = None
        epochs_total = math.ceil(total / per_epoch)
        show = progress and comm.rank == 0
        bar = _progress(total - done,
                        f"{desc} epoch {done // per_epoch + 1}/{epochs_total}",
                        show)
        start, started_at = time.perf_counter(), done
        while done < total:
            for idx in batches(len(data.x), global_batch, rng):
                if done == total:
                    break
                if skip:
                    skip -= 1
                    continue
                rate = learning_rate(schedule, lr, done, total, warmup)
                self.step += 1
                shared = {"lr": np.array(rate, np.float32),
                          "step": np.array(self.step, np.float32)}
                if shards == 1:
                    out = pipeline.named_call(self.step_entry, self._values(
                        dict(shared, **{input_name: data.x[idx],
                                        "labels": data.y[idx]})))
                else:
                    mine = [idx[(comm.rank * accumulate + j) * self.batch:
                                (comm.rank * accumulate + j + 1) * self.batch]
                            for j in range(accumulate)]
                    out = self._split_step(data, mine, input_name, shared,
                                           shards, deterministic)
                loss = float(out.pop("loss"))
                first_loss = loss if first_loss is None else first_loss
                why = None
                if not math.isfinite(loss):
                    why = f"the loss became {loss}"
                elif loss > DIVERGENCE * max(first_loss, 1e-6):
                    why = (f"the loss grew to {loss:.4g} from {first_loss:.4g} "
                           "at the first step")
                else:
                    broken = [n for n, v in out.items()
                              if not np.all(np.isfinite(v))]
                    if broken:
                        why = (f"the update made {broken[0]} not finite "
                               f"(learning rate {rate:g})")
                if why:
                    # This step's update is dropped: the values stay those
                    # of the last good step.
                    self.step -= 1
                    bar.close()
                    raise Diverged(f"{desc}: training diverged at step "
                                   f"{done + 1}: {why}", done)
                for name, value in out.items():
                    kind, _, bare = name.partition(":")
                    if kind in ("param", "qparam"):
                        self.values[bare] = value
                    elif kind == "mask":
                        self.values[name] = value
                    else:
                        self.state[name] = value
                window.append(loss)
                done += 1
                if len(window) == log_every or done == total:
                    history.append((done, float(np.mean(window))))
                    window = []
                if checkpoint and checkpoint_every and (
                        done % checkpoint_every == 0) and comm.rank == 0:
                    self.save_checkpoint(checkpoint, done, total, global_batch)
                bar.update()
                if done % 10 == 0:
                    rate_s = ((done - started_at) * global_batch /
                              (time.perf_counter() - start))
                    shown = history[-1][1] if history else loss
                    bar.set_postfix_str(f"loss {shown:.3f}, "
                                        f"{rate_s:,.0f} samples/s")
                if done % per_epoch == 0:
                    epoch = done // per_epoch
                    if done < total and hasattr(bar, "set_description"):
                        bar.set_description(
                            f"{desc} epoch {epoch + 1}/{epochs_total}")
                    if on_epoch:
                        on_epoch(epoch)
        bar.close()
        self.sync_observed_ranges()
        return history

    def _split_step(self, data: Split, mine: List[np.ndarray],
                    input_name: str, shared: Dict[str, np.ndarray],
                    shards: int, deterministic: bool):
        """One step as gradients, reduction and update: this rank's
        micro-batches `mine` through @gradients (@train_gradients with ema
        observers), their gradients summed in order, summed across the
        ranks, averaged over all `shards` micro-batches, and applied by
        @apply_update; under a sparsity schedule @advance_masks first.
        Returns @train_step's results."""
        entry = self.model.entries.get("train_gradients") or \
            self.model.gradients
        advance = self.model.entries.get("advance_masks")
        if advance:
            # The masks of this step first (every rank computes the same
            # from the same weights), as @train_step does.
            self.values.update(pipeline.named_call(
                advance, self._values(shared)))
        names = [r.name for r in entry.results if r.name.startswith("grad:")]
        grads, losses, ranges = [], [], {}
        for idx in mine:
            out = pipeline.named_call(entry, self._values(dict(shared, **{
                input_name: data.x[idx], "labels": data.y[idx]})))
            losses.append(float(out["loss"]))
            grads.append([out[n] for n in names])
            # Every micro-batch starts from the same observers; together
            # they saw the union of the batches (min of minima, ...).
            for name in (n for n in out if n.startswith(
                    distributed.RANGE_KINDS)):
                pick = np.minimum if name.startswith("act_min:") else \
                    np.maximum
                ranges[name] = out[name] if name not in ranges else \
                    pick(ranges[name], out[name])
        summed = self.comm.allreduce_sum(distributed.sum_in_order(grads),
                                         deterministic)
        count = np.float32(shards)
        mean = {n: g / count for n, g in zip(names, summed)}
        self.comm.reduce_ranges(ranges)
        out = pipeline.named_call(self.model.apply_update,
                                  self._values(dict(shared, **mean)))
        out.update(ranges)
        out["loss"] = np.float32(self.comm.sum_scalar(sum(losses)) / shards)
        return out

    #: Checkpoint entries: values, state and the position in training.
    _VALUE, _STATE, _META = "value/", "state/", "meta/"

    def save_checkpoint(self, path: str, done: int, total: int,
                        global_batch: int) -> None:
        """Everything `fit(resume=path)` needs to continue after step
        `done`, written atomically (pipeline.save_values)."""
        entries = {self._VALUE + k: v for k, v in self.values.items()}
        entries.update({self._STATE + k: v for k, v in self.state.items()})
        for key, value in (("done", done), ("total", total),
                           ("step", self.step),
                           ("global_batch", global_batch)):
            entries[self._META + key] = np.array(value, np.int64)
        pipeline.save_values(path, entries)

    def _restore(self, path: str, total: int, global_batch: int) -> int:
        """Loads a checkpoint of the same run; returns the steps done."""
        try:
            with np.load(path) as z:
                entries = {k: z[k] for k in z.files}
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a checkpoint ({err})") from None
        meta = {k[len(self._META):]: int(v) for k, v in entries.items()
                if k.startswith(self._META)}
        if set(meta) != {"done", "total", "step", "global_batch"}:
            raise ValueError(f"{path}: not a training checkpoint (expected "
                             "meta/done, meta/total, meta/step, "
                             f"meta/global_batch, found {sorted(meta)})")
        if meta["total"] != total or meta["global_batch"] != global_batch:
            raise ValueError(
                f"{path}: the checkpoint is of a run of {meta['total']} steps "
                f"of {meta['global_batch']} samples, this run has {total} "
                f"steps of {global_batch}; resume with the same --epochs, "
                "batch, --accumulate and number of ranks")
        for key, value in entries.items():
            if key.startswith(self._VALUE):
                self.values[key[len(self._VALUE):]] = value
            elif key.startswith(self._STATE):
                self.state[key[len(self._STATE):]] = value
        self.step = meta["step"]
        return meta["done"]


def predict(entry: Entry, values: Dict[str, np.ndarray],
            x: np.ndarray) -> np.ndarray:
    """Logits of `entry` (a forward function, frozen or not) over all of
    `x`, in batches of its static batch size (the last one padded)."""
    input_info = entry.args[0]
    batch = input_info.shape[0]
    outputs = []
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        if len(chunk) < batch:
            pad = np.zeros((batch - len(chunk),) + chunk.shape[1:], chunk.dtype)
            chunk = np.concatenate([chunk, pad])
        args = pipeline.arguments(entry, dict(values, **{input_info.name:
                                                         chunk}))
        out = entry(*args)
        out = out[0] if isinstance(out, tuple) else out
        outputs.append(out[:min(batch, len(x) - start)])
    return np.concatenate(outputs)


def classes(logits: np.ndarray) -> np.ndarray:
    """The predicted class of each row of `logits`: the index of its
    largest value, the lowest index among tied maxima. The one rule of
    evaluation, simulation/deployment comparisons and the checker
    (docs/Semantics.md): at 4 bits the logits have 16 levels and ties are
    common, so a second rule would count flips no program made."""
    return np.argmax(logits, axis=-1)


def accuracy(entry: Entry, values: Dict[str, np.ndarray], data: Split) -> float:
    return float((classes(predict(entry, values, data.x)) == data.y).mean())


def latency(entry: Entry, values: Dict[str, np.ndarray], x: np.ndarray,
            repeat: int = 200) -> float:
    """Median seconds per call of `entry` on one batch from `x`."""
    input_info = entry.args[0]
    args = pipeline.arguments(entry, dict(values, **{
        input_info.name: np.ascontiguousarray(x[:input_info.shape[0]])}))
    for _ in range(10):
        entry(*args)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        entry(*args)
        times.append(time.perf_counter() - t)
    return float(np.median(times))
