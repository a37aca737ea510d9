"""Data-parallel training (qat.distributed, docs/Distributed.md).

The contract, checked here against one process:
  * @gradients then @apply_update is @train_step, bit for bit;
  * N ranks with --deterministic give the bits of one process with
    --accumulate N (same shards, summed in the same order), and with ema
    observers too (min and max reduce exactly);
  * accumulating N batches of b trains as one batch of N*b, up to float
    rounding (batch-shards makes LSQ's gradient scale count the global
    batch);
  * calibration over the ranks gives the ranges of one process;
  * a killed rank stops the job, the last checkpoint is intact, and
    --resume finishes with the bits of an uninterrupted run.
The MPI tests run mpirun --oversubscribe with 2 and 4 ranks.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from qat import models, pipeline, workflow

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = os.path.join(HERE, "..")
sys.path.insert(0, HERE)
from test_cli import separable  # noqa: E402

ENV = dict(os.environ, PYTHONPATH=PYTHON,
           # CI and these machines run as root; Open MPI refuses it unless
           # told.
           OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")


def _have_mpi():
    if shutil.which("mpirun") is None:
        return "mpirun not found (scripts/setup.sh installs openmpi-bin)"
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py not found (scripts/setup.sh installs python3-mpi4py)"
    return None


needs_mpi = pytest.mark.skipif(_have_mpi() is not None,
                               reason=str(_have_mpi()))


def qat(*args, ranks=None, cwd=None, timeout=300):
    command = [sys.executable, "-m", "qat", *map(str, args)]
    if ranks:
        command = ["mpirun", "--oversubscribe", "-np", str(ranks)] + command
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd,
                          env=ENV, timeout=timeout)


def ok(*args, **kw):
    result = qat(*args, **kw)
    assert result.returncode == 0, result.stderr
    return result.stdout


def load(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def assert_identical(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        assert np.array_equal(a[k], b[k]), (k, np.abs(a[k] - b[k]).max())


def relative_difference(a, b):
    return max(float(np.abs(a[k] - b[k]).max() /
                     max(np.abs(a[k]).max(), 1e-30)) for k in a)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """An MLP at batch 32 and at batch 128, float and instrumented, with
    calibrated values, on 1,024 separable images."""
    d = tmp_path_factory.mktemp("distributed")
    import onnx
    onnx.save(models.mlp(hidden=(32,), classes=4), d / "mlp.onnx")
    x, y = separable(1024, 0)
    np.savez(d / "data.npz", x=x, y=y)
    for batch in (32, 128):
        ok("import", "mlp.onnx", "--batch", batch, "-o", f"mlp{batch}.mlir",
           cwd=d)
        ok("instrument", f"mlp{batch}.mlir", cwd=d)
    ok("calibrate", "mlp32.qat.mlir", "--values", "mlp32.npz", "--data",
       "data.npz", "-q", "-o", "calibrated.npz", cwd=d)
    return d


TRAIN = ("--data", "data.npz", "-q", "--lr", "0.01")


def test_gradients_then_apply_update_is_the_train_step(project, tmp_path):
    """The split step (what data-parallel training runs) and the fused
    @train_step compute the same bits, with LSQ and with ema observers."""
    text = (project / "mlp32.qat.mlir").read_text()
    values = load(project / "calibrated.npz")
    x, y = separable(32, 1)
    x = x.reshape(32, 1, 28, 28)
    for range_learning, optimizer in (("lsq", "sgd"), ("ema", "adam")):
        trainer = workflow.Trainer(text, values, str(tmp_path),
                                   f"split_{range_learning}",
                                   optimizer=optimizer,
                                   range_learning=range_learning,
                                   split_step=True)
        trainer.state.update({k: np.full(v.shape, 0.01, np.float32)
                              for k, v in trainer.state.items()
                              if not k.startswith("act_")})
        if range_learning == "ema":
            trainer.state.update({k: np.array(-1 if "min" in k else 1,
                                              np.float32)
                                  for k in trainer.state
                                  if k.startswith("act_")})
        shared = {"lr": np.array(0.05, np.float32),
                  "step": np.array(3, np.float32)}
        input_name = next(i.name for i in trainer.step_entry.args
                          if i.name.startswith("input:"))
        fused = pipeline.named_call(trainer.step_entry, trainer._values(
            dict(shared, **{input_name: x, "labels": y})))
        data = workflow.Split(x, y)
        split = trainer._split_step(data, [np.arange(32)], input_name,
                                    shared, 1, False)
        assert sorted(fused) == sorted(split)
        for name in fused:
            assert np.array_equal(fused[name], split[name]), \
                (range_learning, name)


def test_accumulated_batches_train_as_one_large_batch(project, tmp_path):
    """4 accumulated batches of 32 against one batch of 128: float to 1e-6
    relative; with LSQ scales the first step's gradients agree to float
    rounding only because batch-shards scales LSQ's activation factor by
    the global batch (off by 2x without it)."""
    d = project
    ok("train", "mlp32.mlir", "--values", "mlp32.npz", *TRAIN,
       "--accumulate", 4, "-o", tmp_path / "acc.npz", cwd=d)
    ok("train", "mlp128.mlir", "--values", "mlp32.npz", *TRAIN,
       "-o", tmp_path / "big.npz", cwd=d)
    assert relative_difference(load(tmp_path / "acc.npz"),
                               load(tmp_path / "big.npz")) < 1e-5

    values = load(d / "calibrated.npz")
    x, y = separable(128, 2)
    small = workflow.Trainer((d / "mlp32.qat.mlir").read_text(), values,
                             str(tmp_path), "small", accumulate=4)
    large = workflow.Trainer((d / "mlp128.qat.mlir").read_text(), values,
                             str(tmp_path), "large", split_step=True)
    unscaled = workflow.Trainer((d / "mlp32.qat.mlir").read_text(), values,
                                str(tmp_path), "unscaled", split_step=True)

    def mean_gradient(trainer, shards):
        entry = trainer.model.gradients
        input_name = next(i.name for i in entry.args
                          if i.name.startswith("input:"))
        outs = [pipeline.named_call(entry, trainer._values({
            input_name: x[i::shards][:128 // shards].reshape(-1, 1, 28, 28),
            "labels": y[i::shards][:128 // shards]})) for i in range(shards)]
        return {k: np.mean([o[k] for o in outs], axis=0, dtype=np.float64)
                for k in outs[0] if k.startswith("grad:")}

    want = mean_gradient(large, 1)
    got = mean_gradient(small, 4)
    plain = mean_gradient(unscaled, 4)
    act = [k for k in want if k.endswith(".act_scale")]
    assert act
    for k in want:
        scale = max(np.abs(want[k]).max(), 1e-12)
        assert np.abs(got[k] - want[k]).max() / scale < 1e-4, k
    # Without batch-shards the activation scales' gradients are sqrt(4)
    # times too large.
    for k in act:
        if np.abs(want[k]).max() > 1e-8:
            np.testing.assert_allclose(plain[k], 2 * want[k], rtol=1e-4)


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 4])
def test_ranks_equal_one_process_accumulating(project, tmp_path, ranks):
    d = project
    ok("train", "mlp32.qat.mlir", "--values", "calibrated.npz", *TRAIN,
       "--epochs", 2, "--accumulate", ranks, "-o", tmp_path / "one.npz",
       cwd=d)
    out = ok("train", "mlp32.qat.mlir", "--values", "calibrated.npz", *TRAIN,
             "--epochs", 2, "--distributed", "--deterministic", "-o",
             tmp_path / "many.npz", ranks=ranks, cwd=d)
    # Only rank 0 reports and writes.
    assert out.count("trained") == 1 and f"on {ranks} ranks" in out
    assert_identical(load(tmp_path / "one.npz"), load(tmp_path / "many.npz"))
    if ranks == 2:
        # MPI's own sum of two terms is commutative, so exact too.
        ok("train", "mlp32.qat.mlir", "--values", "calibrated.npz", *TRAIN,
           "--epochs", 2, "--distributed", "--bucket-mb", "0.001", "-o",
           tmp_path / "reduced.npz", ranks=2, cwd=d)
        assert_identical(load(tmp_path / "one.npz"),
                         load(tmp_path / "reduced.npz"))


@needs_mpi
def test_ema_observers_are_synchronised(project, tmp_path):
    d = project
    common = ("--range-learning", "ema", "--optimizer", "adam", "--lr",
              "0.001", "--data", "data.npz", "-q")
    ok("train", "mlp32.qat.mlir", "--values", "calibrated.npz", *common,
       "--accumulate", 2, "-o", tmp_path / "one.npz", cwd=d)
    ok("train", "mlp32.qat.mlir", "--values", "calibrated.npz", *common,
       "--distributed", "-o", tmp_path / "two.npz", ranks=2, cwd=d)
    one, two = load(tmp_path / "one.npz"), load(tmp_path / "two.npz")
    assert_identical(one, two)
    assert any(k.endswith(".act_scale") for k in two)


@needs_mpi
def test_calibration_over_ranks_is_calibration(project, tmp_path):
    d = project
    ok("calibrate", "mlp32.qat.mlir", "--values", "mlp32.npz", "--data",
       "data.npz", "-q", "--batches", 7, "-o", tmp_path / "one.npz", cwd=d)
    ok("calibrate", "mlp32.qat.mlir", "--values", "mlp32.npz", "--data",
       "data.npz", "-q", "--batches", 7, "--distributed", "-o",
       tmp_path / "two.npz", ranks=2, cwd=d)
    assert_identical(load(tmp_path / "one.npz"), load(tmp_path / "two.npz"))


@needs_mpi
def test_killed_rank_stops_the_job_and_the_checkpoint_resumes(project,
                                                              tmp_path):
    d = project
    run = ("train", "mlp32.qat.mlir", "--values", "calibrated.npz", *TRAIN,
           "--epochs", 100, "--distributed", "--checkpoint-every", 5)
    checkpoint = tmp_path / "run.checkpoint.npz"
    job = subprocess.Popen(
        ["mpirun", "--oversubscribe", "-np", "2", sys.executable, "-m", "qat",
         *map(str, run), "-o", str(tmp_path / "run.npz")],
        cwd=d, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    deadline = time.time() + 120
    while not checkpoint.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert checkpoint.exists()
    time.sleep(0.3)
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(job.pid)],
                              capture_output=True, text=True).stdout.split()
    assert len(children) == 2, children
    os.kill(int(children[-1]), signal.SIGKILL)
    output, _ = job.communicate(timeout=60)
    assert job.returncode != 0
    assert "signal 9" in output, output
    assert not (tmp_path / "run.npz").exists()

    saved = load(checkpoint)
    done = int(saved["meta/done"])
    assert 0 < done < 1600 and done % 5 == 0
    ok(*run, "--resume", checkpoint, "-o", tmp_path / "resumed.npz",
       ranks=2, cwd=d)
    ok(*run, "-o", tmp_path / "straight.npz", ranks=2, cwd=d)
    assert_identical(load(tmp_path / "resumed.npz"),
                     load(tmp_path / "straight.npz"))


@needs_mpi
def test_an_error_on_one_rank_stops_every_rank(project, tmp_path):
    d = project
    ok("train", "mlp32.mlir", "--values", "mlp32.npz", *TRAIN,
       "--checkpoint-every", 1, "-o", tmp_path / "a.npz", cwd=d)
    # A checkpoint of another run (1 rank, 16 steps) cannot resume this one.
    result = qat("train", "mlp32.mlir", "--values", "mlp32.npz", *TRAIN,
                 "--distributed", "--resume", tmp_path / "a.checkpoint.npz",
                 "-o", tmp_path / "b.npz", ranks=2, cwd=d, timeout=120)
    assert result.returncode != 0
    assert "error: " in result.stderr and "resume with the same" in \
        result.stderr, result.stderr
    assert "stopping every rank" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "b.npz").exists()
