"""python3 -m qat: the pipeline command by command on a small data set,
the demo's report, the data readers, and the errors a user sees (one line,
a hint, exit status 1, never a traceback)."""

import gzip
import os
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from qat import data, models

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = os.path.join(HERE, "..")


def qat(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=PYTHON)
    result = subprocess.run([sys.executable, "-m", "qat", *map(str, args)],
                            capture_output=True, text=True, cwd=cwd, env=env)
    return result


def ok(*args, cwd=None):
    result = qat(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def user_error(*args, cwd=None):
    """The command fails the way a user mistake should."""
    result = qat(*args, cwd=cwd)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: "), result.stderr
    assert len(lines) <= 2 and all(l.startswith(("error: ", "hint: "))
                                   for l in lines), result.stderr
    return result.stderr


def separable(n, seed):
    """Images whose class is the brightest of 4 quadrants."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 28, 28), dtype=np.float32) * 0.3
    y = rng.integers(0, 4, n).astype(np.int32)
    for i, label in enumerate(y):
        r, c = divmod(int(label), 2)
        x[i, 0, r * 14:(r + 1) * 14, c * 14:(c + 1) * 14] += 0.7
    return x, y


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    import onnx
    onnx.save(models.mlp(hidden=(32,), classes=4), folder / "mlp.onnx")
    x, y = separable(1024, 0)
    np.savez(folder / "data.npz", x=x, y=y)
    return folder


def imported(folder):
    """mlp.mlir and mlp.npz in `folder` (tests that need them run alone
    too, not only after test_pipeline_command_by_command)."""
    if not (folder / "mlp.mlir").exists():
        ok("import", "mlp.onnx", "--batch", 32, cwd=folder)


def test_pipeline_command_by_command(project):
    d = project
    out = ok("import", "mlp.onnx", "--batch", 32, cwd=d)
    assert "Gemm x2" in out and os.path.exists(d / "mlp.npz")
    out = ok("train", "mlp.mlir", "--values", "mlp.npz", "--data", "data.npz",
             "--epochs", 2, "--lr", 0.1, "-q", cwd=d)
    first, last = map(float, re.search(r"loss ([0-9.]+) -> ([0-9.]+)",
                                       out).groups())
    assert last < first / 3, out
    ok("instrument", "mlp.mlir", "--weight-bits", 4, cwd=d)
    assert "qat.fake_quant" in (d / "mlp.qat.mlir").read_text()
    out = ok("calibrate", "mlp.qat.mlir", "--values", "mlp.trained.npz",
             "--data", "data.npz", "-q", cwd=d)
    assert "8 scales and zero points" in out
    ok("train", "mlp.qat.mlir", "--values", "mlp.qat.calibrated.npz",
       "--data", "data.npz", "--epochs", 1, "--lr", 0.01, "-q", cwd=d)
    ok("freeze", "mlp.qat.mlir", "--values", "mlp.qat.trained.npz", cwd=d)
    ok("convert", "mlp.frozen.mlir", cwd=d)
    integer = (d / "mlp.int.mlir").read_text()
    assert "qat.requantize" in integer and "qat.fake_quant" not in integer
    ok("compile", "mlp.int.mlir", cwd=d)
    out = ok("eval", "libmlp.int.so", "--data", "data.npz", cwd=d)
    accuracy = float(re.search(r"accuracy ([0-9.]+)%", out).group(1))
    assert accuracy > 95, out  # 4 separable classes
    out = ok("check", "mlp.frozen.mlir", "--data", "data.npz", cwd=d)
    assert "matmul_0:" in out and "first divergence" in out
    # Every sample of the set, in batches of 32, the padding left out.
    assert re.search(r"output logits: \d+ of 4096 elements differ, .*arg-max "
                     r"agrees on [0-9.]+% of rows \(\d+ of 1024 rows flip\)",
                     out), out
    out = ok("check", "mlp.frozen.mlir", "--data", "data.npz", "--limit", 100,
             cwd=d)
    assert re.search(r"output logits: \d+ of 400 elements differ, .*"
                     r"\(\d+ of 100 rows flip\)", out), out


def test_demo_writes_report(tmp_path):
    if not os.path.exists(os.path.join(data.FASHION_MNIST,
                                       "train-images-idx3-ubyte.gz")):
        pytest.skip(f"Fashion-MNIST not installed at {data.FASHION_MNIST} "
                    "(Debian package dataset-fashion-mnist)")
    out = ok("demo", "--networks", "mlp", "--limit", 4096, "--test-limit",
             1000, "--epochs", 1, "--qat-epochs", 0.25, "--faithful-epochs",
             0.25, "-q", "-o", tmp_path / "demo")
    rows = re.findall(r"^\| mlp \| ([^|]+) \| ([0-9.]+)% \| ([-0-9.]+)%? \| "
                      r"([0-9.]+) \|.* \| ([-0-9]+) \|$", out, re.M)
    assert [r[0].strip() for r in rows] == [
        "FP32", "PTQ int8", "QAT int8", "PTQ W4A8", "QAT W4A8",
        "QAT+faithful W4A8", "PTQ W4A4", "QAT W4A4", "QAT+faithful W4A4",
        "QAT mixed", "QAT int8 50%", "QAT int8 75%", "QAT int8 2:4",
        "QAT int8 75% 4x16"]
    assert all(float(r[1]) > 60 for r in rows), rows  # 10 classes
    # Simulation and deployment disagree on few of the 1000 images; after
    # fine-tuning through the faithful simulation, on none.
    assert rows[0][4] == "-" and all(0 <= int(r[4]) < 50 for r in rows[1:])
    assert rows[5][4] == "0" and rows[8][4] == "0"
    # The pruned rows reach their sparsity (the weights exactly 0): 75% of
    # the first layer's 3136 4x16 blocks are 150528 of the 203264 weights
    # (the 10-way classifier stays dense).
    assert [r[2] for r in rows[10:]] == ["50.0", "75.0", "50.0", "74.1"]
    assert all(r[2] == "-" for r in rows[:10])
    # Weights: 784x256 + 256x10 codes and 266 int32 biases at 8 bits; at 4
    # bits two codes per byte; the mixed row within 40% of int8.
    codes, biases = 784 * 256 + 256 * 10, 4 * 266
    assert float(rows[2][3]) == round((codes + biases) / 1024, 1)
    assert float(rows[4][3]) == round((codes // 2 + biases) / 1024, 1)
    assert float(rows[9][3]) <= 0.4 * (codes + biases) / 1024 + 0.05
    report = (tmp_path / "demo" / "report.md").read_text()
    for image in ("training_curves.png", "accuracy_by_bits.png",
                  "layer_error.png", "accuracy_by_sparsity.png",
                  "search_mlp/pareto.png"):
        path = tmp_path / "demo" / image
        assert path.stat().st_size > 1000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert image in report
    assert "## Mixed precision: mlp" in report
    search_report = (tmp_path / "demo" / "search_mlp" / "search.md")
    assert "(chosen)" in search_report.read_text()
    assert "| mlp | QAT int8 |" in report and "SQNR" in report


def test_idx_reader(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 1], np.uint8)
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(b"\0\0\x08\x03" + struct.pack(">III", 2, 3, 4) +
                images.tobytes())
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\0\0\x08\x01" + struct.pack(">I", 2) + labels.tobytes())
    split = data.fashion_mnist("train", root=str(tmp_path))
    np.testing.assert_array_equal(split.x[:, 0], images / np.float32(255))
    assert split.x.dtype == np.float32 and split.x.shape == (2, 1, 3, 4)
    np.testing.assert_array_equal(split.y, [7, 1])
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\0\0\x08\x01" + struct.pack(">I", 5) + labels.tobytes())
    with pytest.raises(data.DataError, match="2 bytes for dimensions"):
        data.fashion_mnist("train", root=str(tmp_path))


def test_user_errors(project, tmp_path):
    d = project
    assert "missing.onnx: no such file" in user_error("import", "missing.onnx",
                                                      cwd=d)
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("Sin", ["x"], ["y"], name="wave")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("",
                                                                        13)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "sin.onnx")
    message = user_error("import", tmp_path / "sin.onnx")
    assert "node 'wave' (Sin): unsupported op type" in message
    assert "hint: docs/Frontend.md" in message
    # A bad attribute (libonnx's shape inference divides by it): one line.
    graph = helper.make_graph(
        [helper.make_node("MaxPool", ["x"], ["y"], name="pool",
                          kernel_shape=[2, 2], strides=[0, 0])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                       [1, 1, "h", "w"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("",
                                                                        13)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "pool.onnx")
    assert "node 'pool' (MaxPool): attribute 'strides' must be positive" in \
        user_error("import", tmp_path / "pool.onnx")
    assert "--normalize 'grey': expected one of" in user_error(
        "import", "mlp.onnx", "--normalize", "grey", cwd=d)
    (tmp_path / "bad.mlir").write_text("func.func @f( {\n")
    assert "error: qat-opt" in user_error("instrument", tmp_path / "bad.mlir")
    ok("import", "mlp.onnx", "-o", tmp_path / "m.mlir", "--batch", 32, cwd=d)
    # Values that lack a parameter.
    np.savez(tmp_path / "empty.npz", unrelated=np.zeros(1))
    message = user_error("train", tmp_path / "m.mlir", "--values",
                         tmp_path / "empty.npz", "--data", d / "data.npz")
    assert "no value for argument 'param:fc0.weight'" in message
    # Data that does not fit the model's input.
    np.savez(tmp_path / "wrong.npz", x=np.zeros((64, 10), np.float32),
             y=np.zeros(64, np.int32))
    message = user_error("train", tmp_path / "m.mlir", "--values",
                         tmp_path / "m.npz", "--data", tmp_path / "wrong.npz")
    assert "samples of shape [10] do not fit the model input [1, 28, 28]" \
        in message
    assert "no such file" in user_error("eval", tmp_path / "nothing.so")
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    assert "not an .npz archive" in user_error(
        "freeze", tmp_path / "m.mlir", "--values", tmp_path / "x.npz")


def test_options_file(project, tmp_path):
    d = project
    ok("import", "mlp.onnx", "-o", tmp_path / "m.mlir", "--batch", 32, cwd=d)
    (tmp_path / "opts.json").write_text('{"weight-bits": 4, "act-bits": 6}')
    out = ok("instrument", tmp_path / "m.mlir", "--options",
             tmp_path / "opts.json", "-o", tmp_path / "m4.mlir")
    assert "W4A6" in out
    text = (tmp_path / "m4.mlir").read_text()
    assert "num_bits = 4" in text and "num_bits = 6" in text
    out = ok("instrument", tmp_path / "m.mlir", "--options",
             tmp_path / "opts.json", "--weight-bits", 8, "-o",
             tmp_path / "m8.mlir")
    assert "W8A6" in out  # the command line wins
    (tmp_path / "bad.json").write_text('{"learning-rate": 1}')
    assert "'learning-rate' is not an option of `instrument`" in user_error(
        "instrument", tmp_path / "m.mlir", "--options", tmp_path / "bad.json")


def test_files_of_the_wrong_kind(project, tmp_path):
    d = project
    (tmp_path / "empty.onnx").write_bytes(b"")
    assert "empty.onnx: not an ONNX model (it has no graph)" in user_error(
        "import", tmp_path / "empty.onnx")
    assert "not an MLIR text file" in user_error("compile", d / "mlp.onnx")
    assert "hint: ONNX models go through `import` first" in user_error(
        "instrument", d / "mlp.onnx")


def test_interrupted_training_keeps_its_work(project, tmp_path):
    """Ctrl-C during `train` saves the values reached so far."""
    import signal
    import time
    d = project
    ok("import", "mlp.onnx", "-o", tmp_path / "m.mlir", "--batch", 32, cwd=d)
    env = dict(os.environ, PYTHONPATH=PYTHON)
    proc = subprocess.Popen(
        [sys.executable, "-m", "qat", "train", str(tmp_path / "m.mlir"),
         "--values", str(tmp_path / "m.npz"), "--data", str(d / "data.npz"),
         "--epochs", "100000", "-o", str(tmp_path / "t.npz")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Wait until the progress bar reports a throughput: steps are running.
    seen = b""
    deadline = time.time() + 120
    while b"samples/s" not in seen and time.time() < deadline:
        chunk = proc.stderr.read1(4096)
        if not chunk:
            break
        seen += chunk
    assert b"samples/s" in seen, seen
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    err = (seen + rest).decode(errors="replace")
    assert proc.returncode == 130, err
    assert "interrupted after" in err and "Traceback" not in err
    with np.load(tmp_path / "t.npz") as trained, \
            np.load(tmp_path / "m.npz") as initial:
        assert set(trained.files) == set(initial.files)
        assert not np.array_equal(trained["fc0.weight"],
                                  initial["fc0.weight"])


def test_misuse_is_a_user_error_and_keeps_work(project, tmp_path):
    """Bad option values, an options file of the wrong type, labels outside
    the model's classes, converting an unfrozen model and a diverging run
    each give one error line and exit 1; a diverging run saves the values
    of its last good step, all finite."""
    import shutil
    d = tmp_path
    shutil.copy(project / "mlp.onnx", d / "mlp.onnx")
    shutil.copy(project / "data.npz", d / "data.npz")
    ok("import", "mlp.onnx", "--batch", 32, cwd=d)
    train = ("train", "mlp.mlir", "--values", "mlp.npz", "--data", "data.npz",
             "-q")
    assert "argument --epochs: expected a number > 0, got -3" in user_error(
        *train, "--epochs", -3, cwd=d)
    assert "argument --limit: expected a number >= 1, got 0" in user_error(
        *train, "--limit", 0, cwd=d)
    assert "argument --lr: expected a finite number, got nan" in user_error(
        *train, "--lr", "nan", cwd=d)
    (d / "opts.json").write_text('{"epochs": "many"}')
    assert "opts.json: 'epochs': expected a number, got 'many'" in \
        user_error(*train, "--options", "opts.json", cwd=d)
    (d / "opts.json").write_text('{"quiet": 3}')
    assert "'quiet': expected true or false, got 3" in user_error(
        *train, "--options", "opts.json", cwd=d)

    x, y = separable(256, 1)
    np.savez(d / "ten.npz", x=x, y=(y * 3).astype(np.int32))  # labels 0..9
    assert "labels must be class indices in [0, 4) (the model has 4 " \
           "outputs), found 9" in user_error(
               "train", "mlp.mlir", "--values", "mlp.npz", "--data",
               "ten.npz", "-q", cwd=d)

    ok("instrument", "mlp.mlir", cwd=d)
    assert "no frozen function to convert" in user_error(
        "convert", "mlp.qat.mlir", cwd=d)

    message = user_error(*train, "--lr", 1e6, "-o", "diverged.npz", cwd=d)
    assert "training diverged at step" in message, message
    assert "diverged.npz" in message
    saved = np.load(d / "diverged.npz")
    assert set(saved.files) == set(np.load(d / "mlp.npz").files)
    assert all(np.all(np.isfinite(saved[k])) for k in saved.files)


def test_outputs_are_replaced_whole(tmp_path):
    """A write that fails midway leaves the previous file as it was, and no
    partial file: values (.npz) and text outputs alike."""
    from qat import cli, pipeline
    path = tmp_path / "values.npz"
    pipeline.save_values(str(path), {"w": np.arange(4, dtype=np.float32)})
    before = path.read_bytes()
    with pytest.raises(ValueError):  # object arrays cannot be written
        pipeline.save_values(str(path), {"w": np.array([object()])})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["values.npz"]
    text = tmp_path / "model.mlir"
    cli._write(str(text), "old")
    with pytest.raises(TypeError):
        cli._write(str(text), None)
    assert text.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["model.mlir", "values.npz"]


def test_ema_training_keeps_the_observed_scales(project, tmp_path):
    """With moving-average observers the trained values carry the scales of
    the observers (numpy's choose_qparams of their min and max), not the
    calibrated ones: what freezing and deployment then use."""
    import shutil
    from reference import choose_qparams
    from qat import data as datasets
    from qat import workflow
    d = tmp_path
    shutil.copy(project / "mlp.onnx", d / "mlp.onnx")
    ok("import", "mlp.onnx", "--batch", 32, cwd=d)
    ok("instrument", "mlp.mlir", cwd=d)
    text = (d / "mlp.qat.mlir").read_text()
    x, y = separable(512, 5)
    trainer = workflow.Trainer(text, dict(np.load(d / "mlp.npz")),
                               str(d / "work"), range_learning="ema")
    x = datasets.fit(x, trainer.input_shape, "npz")
    calibrated = dict(trainer.calibrate(x))
    trainer.fit(datasets.Split(x, y), 1, 0.05, progress=False)
    groups = [n[len("act_min:"):] for n in trainer.state
              if n.startswith("act_min:")]
    assert groups
    moved = 0
    for group in groups:
        lo = trainer.state["act_min:" + group]
        hi = trainer.state["act_max:" + group]
        scale, zero = choose_qparams(lo, hi, 8, signed=False)
        np.testing.assert_array_equal(trainer.values[group + ".act_scale"],
                                      scale)
        np.testing.assert_array_equal(
            trainer.values[group + ".act_zero_point"], zero)
        moved += not np.array_equal(calibrated[group + ".act_scale"], scale)
    assert moved, "the observers did not move: the test proves nothing"


def test_instrument_dry_run_prints_the_plan(project, tmp_path):
    """`instrument --dry-run` lists every layer and fake-quant point and
    writes no model; `--report` keeps the same plan beside the model."""
    import shutil
    d = tmp_path
    shutil.copy(project / "mlp.onnx", d / "mlp.onnx")
    ok("import", "mlp.onnx", "--batch", 8, cwd=d)
    out = ok("instrument", "mlp.mlir", "--dry-run", "--weight-bits", 4, cwd=d)
    assert out.startswith("func @mlp: 2 layers (0 skipped), 2 weight and 3 "
                          "activation fake-quants"), out
    assert "layer matmul_0 (linalg.matmul): weight 4-bit" in out
    assert "layer matmul_1 (linalg.matmul): weight 4-bit" in out
    assert not (d / "mlp.qat.mlir").exists()
    ok("instrument", "mlp.mlir", "--weight-bits", 4, "--report", "plan.txt",
       cwd=d)
    assert (d / "plan.txt").read_text() == out
    assert "qat.fake_quant" in (d / "mlp.qat.mlir").read_text()


def test_calibration_warns_when_a_range_collapses(project, tmp_path):
    """All-zero calibration data give every activation range [0, 0]: the
    command still works but warns, naming each collapsed scale."""
    import shutil
    d = tmp_path
    shutil.copy(project / "mlp.onnx", d / "mlp.onnx")
    ok("import", "mlp.onnx", "--batch", 32, cwd=d)
    ok("instrument", "mlp.mlir", cwd=d)
    np.savez(d / "zeros.npz", x=np.zeros((64, 1, 28, 28), np.float32),
             y=np.zeros(64, np.int32))
    result = qat("calibrate", "mlp.qat.mlir", "--values", "mlp.npz",
                 "--data", "zeros.npz", "-q", cwd=d)
    assert result.returncode == 0, result.stderr
    assert "warning: image.act_scale: the calibrated range collapsed" in \
        result.stderr, result.stderr
    # Converting such a model is an error naming the layer, unless the user
    # accepts it.
    result = qat("calibrate", "mlp.qat.mlir", "--values", "mlp.npz",
                 "--data", "zeros.npz", "-q", "-o", "zeros.values.npz", cwd=d)
    ok("freeze", "mlp.qat.mlir", "--values", "zeros.values.npz", "-o",
       "zeros.frozen.mlir", cwd=d)
    result = qat("convert", "zeros.frozen.mlir", cwd=d)
    assert result.returncode == 1, result
    assert "range collapsed to a point" in result.stderr and \
        "allow-collapsed" in result.stderr, result.stderr
    ok("convert", "zeros.frozen.mlir", "--allow-collapsed", cwd=d)
    # A real data set warns about nothing.
    shutil.copy(project / "data.npz", d / "data.npz")
    result = qat("calibrate", "mlp.qat.mlir", "--values", "mlp.npz",
                 "--data", "data.npz", "-q", cwd=d)
    assert result.returncode == 0 and "warning" not in result.stderr, result


def test_train_faithful_keeps_the_scales_and_deploys_what_it_trained(
        project, tmp_path):
    """`train --faithful` keeps the scales and zero points it is given,
    trains the weights through the faithful simulation, and the deployed
    integer program then computes exactly what that simulation computes."""
    import shutil
    from qat import data as datasets
    from qat import pipeline, workflow
    d = tmp_path
    shutil.copy(project / "mlp.onnx", d / "mlp.onnx")
    shutil.copy(project / "data.npz", d / "data.npz")
    ok("import", "mlp.onnx", "--batch", 32, cwd=d)
    ok("train", "mlp.mlir", "--values", "mlp.npz", "--data", "data.npz",
       "--epochs", 1, "--lr", 0.1, "-q", cwd=d)
    ok("instrument", "mlp.mlir", "--weight-bits", 4, cwd=d)
    ok("calibrate", "mlp.qat.mlir", "--values", "mlp.trained.npz",
       "--data", "data.npz", "-q", cwd=d)
    ok("train", "mlp.qat.mlir", "--values", "mlp.qat.calibrated.npz",
       "--data", "data.npz", "--faithful", "--epochs", 0.5, "--lr", 0.01,
       "-o", "tuned.npz", "-q", cwd=d)
    before, after = np.load(d / "mlp.qat.calibrated.npz"), np.load(d /
                                                                  "tuned.npz")
    assert set(before.files) == set(after.files)
    qparams = [k for k in after.files if k.endswith(workflow.QPARAM_SUFFIXES)]
    assert qparams and all(np.array_equal(before[k], after[k])
                           for k in qparams)
    assert any(not np.array_equal(before[k], after[k])
               for k in after.files if k not in qparams)

    ok("freeze", "mlp.qat.mlir", "--values", "tuned.npz", cwd=d)
    ok("convert", "mlp.frozen.mlir", cwd=d)
    ok("compile", "mlp.int.mlir", cwd=d)
    text = (d / "mlp.qat.mlir").read_text()
    values = dict(after)
    q, params = workflow.split_qparams(values)
    simulation = workflow.freeze(
        workflow.faithful(workflow.freeze(text, q, "mlp")), params, "mlp")
    sim = pipeline.load(simulation, str(d / "sim"), "faithful").mlp
    deployed = pipeline.Model(str(d / "libmlp.int.so")).mlp
    x, _ = separable(128, 7)
    x = datasets.fit(x, sim.args[0].shape, "npz")
    for start in range(0, len(x), 32):
        np.testing.assert_array_equal(sim(x[start:start + 32]),
                                      deployed(x[start:start + 32]))


def w4a4_mlp(project, d):
    """The project's MLP and data copied into `d`, imported at batch 32 and
    instrumented at W4A4 (mlp.qat.mlir)."""
    import shutil
    shutil.copy(project / "mlp.onnx", d / "mlp.onnx")
    shutil.copy(project / "data.npz", d / "data.npz")
    ok("import", "mlp.onnx", "--batch", 32, cwd=d)
    ok("instrument", "mlp.mlir", "--weight-bits", 4, "--act-bits", 4, cwd=d)


def test_eval_against_counts_class_flips(project, tmp_path):
    """`eval deployed.so --against simulated.so` counts the samples whose
    class differs between the two, as numpy counts them from each library's
    own logits."""
    from qat import data as datasets
    from qat import workflow
    from qat.runtime import Model
    d = tmp_path
    w4a4_mlp(project, d)
    ok("calibrate", "mlp.qat.mlir", "--values", "mlp.npz", "--data",
       "data.npz", "-q", cwd=d)
    ok("freeze", "mlp.qat.mlir", "--values", "mlp.qat.calibrated.npz",
       cwd=d)
    ok("convert", "mlp.frozen.mlir", cwd=d)
    ok("compile", "mlp.int.mlir", cwd=d)
    ok("compile", "mlp.frozen.mlir", cwd=d)
    out = ok("eval", "libmlp.int.so", "--against", "libmlp.frozen.so",
             "--data", "data.npz", cwd=d)
    # (4 of 1024 differ when this was written: W4A4 after calibration only.)
    flips = int(re.search(r"the class differs on (\d+) of 1024 samples",
                          out).group(1))
    split = datasets.load(str(d / "data.npz"), "test", None)
    classes = []
    for library in ("libmlp.int.so", "libmlp.frozen.so"):
        entry = Model(str(d / library)).mlp
        x = datasets.fit(split.x, entry.args[0].shape, "npz")
        classes.append(workflow.predict(entry, {}, x).argmax(1))
    assert flips == int(np.count_nonzero(classes[0] != classes[1]))
    assert "error: libmlp.nope.so: no such file" in user_error(
        "eval", "libmlp.int.so", "--against", "libmlp.nope.so", "--data",
        "data.npz", cwd=d)


def test_learning_rate_schedules(project, tmp_path):
    """workflow.learning_rate against the formulas written out with numpy,
    and the options reaching training from the command line."""
    from qat.workflow import learning_rate
    total, lr = 40, 0.2
    steps = np.arange(total)
    want = {
        "cosine": lr * (1 + np.cos(np.pi * steps / total)) / 2,
        "constant": np.full(total, lr),
        "step": np.where(steps < 20, lr, np.where(steps < 30, lr / 10,
                                                  lr / 100)),
    }
    for schedule, expected in want.items():
        got = [learning_rate(schedule, lr, int(s), total) for s in steps]
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        ramp = [learning_rate(schedule, lr, int(s), total, warmup=5)
                for s in steps]
        np.testing.assert_allclose(ramp[:5], expected[:5] * (steps[:5] + 1) / 5,
                                   rtol=1e-12)
        np.testing.assert_allclose(ramp[5:], expected[5:], rtol=1e-12)

    d = project
    imported(d)
    out = ok("train", "mlp.mlir", "--values", "mlp.npz", "--data", "data.npz",
             "--schedule", "step", "--warmup", 3, "--lr", 0.1, "-q", "-o",
             tmp_path / "stepped.npz", cwd=d)
    assert "trained 32 steps" in out
    assert "--schedule: invalid choice: 'linear'" in user_error(
        "train", "mlp.mlir", "--values", "mlp.npz", "--schedule", "linear",
        cwd=d)
    assert "--warmup: expected a number >= 0, got -1" in user_error(
        "train", "mlp.mlir", "--values", "mlp.npz", "--warmup", "-1", cwd=d)


def test_prune_from_the_command_line(project, tmp_path):
    """`prune` and `instrument --prune` place the masks; a pruned model
    calibrates, freezes (the masks folded into the weights) and converts;
    bad settings are user errors."""
    d = project
    imported(d)
    out = tmp_path / "mlp.pruned.mlir"
    assert "pruned (2:4)" in ok("prune", "mlp.mlir", "--prune", "2:4", "-o",
                                out, cwd=d)
    assert "qat.apply_mask" in out.read_text()
    ok("prune", "mlp.mlir", "--prune", "0.5/4x4", "-o", out, cwd=d)
    assert out.read_text().count("block = array<i64: 4, 4>") == 2
    qat_model = tmp_path / "mlp.qat.mlir"
    ok("instrument", "mlp.mlir", "--prune", "0.5", "-o", qat_model, cwd=d)
    text = qat_model.read_text()
    assert "qat.prune_mask" in text and "qat.fake_quant" in text
    ok("calibrate", qat_model, "--values", "mlp.npz", "--data", "data.npz",
       "-q", "-o", tmp_path / "cal.npz", cwd=d)
    ok("freeze", qat_model, "--values", tmp_path / "cal.npz", "-o",
       tmp_path / "mlp.frozen.mlir", cwd=d)
    frozen = (tmp_path / "mlp.frozen.mlir").read_text()
    forward = frozen.split("func.func @mlp(")[1].split("func.func @")[0]
    assert "qat.apply_mask" not in forward
    ok("convert", tmp_path / "mlp.frozen.mlir", "-o", tmp_path / "mlp.int.mlir",
       cwd=d)
    # A sparsity schedule: masks recomputed at steps 2, 4, 6, then frozen;
    # they are saved with the values and freeze deploys them.
    out = ok("train", qat_model, "--values", tmp_path / "cal.npz", "--data",
             "data.npz", "--limit", 256, "--prune-begin", 2, "--prune-end", 6,
             "--prune-every", 2, "--lr", 0.01, "-q", "-o",
             tmp_path / "sched.npz", cwd=d)
    with np.load(tmp_path / "sched.npz") as v:
        for mask, weight in (("mask:matmul_0", "fc0.weight"),
                             ("mask:matmul_1", "fc1.weight")):
            pruned = v[mask] == 0
            assert pruned.sum() == int(0.5 * pruned.size), mask
            assert np.all(v[weight][pruned] == 0), weight
    ok("freeze", qat_model, "--values", tmp_path / "sched.npz", "-o",
       tmp_path / "sched.frozen.mlir", cwd=d)
    assert "after --prune-end 3" in user_error(
        "train", qat_model, "--values", tmp_path / "cal.npz", "--data",
        "data.npz", "--prune-begin", 5, "--prune-end", 3, cwd=d)
    assert "nothing to prune with" in user_error("prune", "mlp.mlir", cwd=d)
    assert "expected N:M with 0 < N < M (such as 2:4), got '5:4'" in \
        user_error("prune", "mlp.mlir", "--prune", "5:4", cwd=d)
    assert "expected a sparsity in [0, 1), N:M, S/KxN (such as 0.75/4x16) or none, got '1.5'" in \
        user_error("instrument", "mlp.mlir", "--prune", "1.5", cwd=d)


def test_batch_size_recompiles_at_another_batch(project, tmp_path):
    """train --batch-size 8 on a model imported at batch 32 trains exactly
    as the model imported at batch 8 does (same data order, same program):
    bit-identical values. calibrate takes it too."""
    import shutil
    d = tmp_path
    shutil.copy(project / "mlp.onnx", d)
    shutil.copy(project / "data.npz", d)
    ok("import", "mlp.onnx", "--batch", 32, "-o", "mlp32.mlir", cwd=d)
    ok("import", "mlp.onnx", "--batch", 8, "-o", "mlp8.mlir", cwd=d)
    common = ("--data", "data.npz", "--limit", 256, "--lr", 0.05, "-q")
    out = ok("train", "mlp32.mlir", "--values", "mlp32.npz", "--batch-size", 8,
             "-o", "a.npz", *common, cwd=d)
    assert "trained 32 steps" in out, out  # 256 samples / 8
    ok("train", "mlp8.mlir", "--values", "mlp8.npz", "-o", "b.npz", *common,
       cwd=d)
    with np.load(d / "a.npz") as a, np.load(d / "b.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    ok("instrument", "mlp32.mlir", "-o", "q32.qat.mlir", cwd=d)
    ok("instrument", "mlp8.mlir", "-o", "q8.qat.mlir", cwd=d)
    ok("calibrate", "q32.qat.mlir", "--values", "a.npz", "--batch-size", 8,
       "--batches", 4, "-o", "ca.npz", *common[:4], "-q", cwd=d)
    ok("calibrate", "q8.qat.mlir", "--values", "a.npz", "--batches", 4,
       "-o", "cb.npz", *common[:4], "-q", cwd=d)
    with np.load(d / "ca.npz") as a, np.load(d / "cb.npz") as b:
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_batch_size_refused_where_the_batch_is_folded(tmp_path):
    """Attention folds the batch into the heads' batch dimension: the batch
    cannot be changed there, and the user is told to import again."""
    import onnx
    from onnx import TensorProto, helper
    q = helper.make_tensor_value_info("q", TensorProto.FLOAT, ["N", 2, 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 3, 3])
    graph = helper.make_graph(
        [helper.make_node("Transpose", ["q"], ["kt"], perm=[0, 1, 3, 2]),
         helper.make_node("MatMul", ["q", "kt"], ["y"])], "att", [q], [y])
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "att.onnx")
    ok("import", "att.onnx", "--batch", 4, cwd=tmp_path)
    np.savez(tmp_path / "d.npz", x=np.zeros((8, 2, 3, 4), np.float32),
             y=np.zeros(8, np.int32))
    err = user_error("train", "att.mlir", "--values", "att.npz", "--data",
                     "d.npz", "--batch-size", 2, cwd=tmp_path)
    assert "cannot change the batch size" in err
    assert "import the model again at the batch you want" in err


def test_calibrate_refine_lowers_the_loss_and_keeps_zero_points(project,
                                                                tmp_path):
    """`calibrate --refine` at 4 bits: the loss it reports falls, the
    scales it writes differ from min/max calibration's, the zero points
    are min/max calibration's."""
    d = tmp_path
    w4a4_mlp(project, d)
    ok("calibrate", "mlp.qat.mlir", "--values", "mlp.npz", "--data",
       "data.npz", "-q", "-o", "minmax.npz", cwd=d)
    out = ok("calibrate", "mlp.qat.mlir", "--values", "mlp.npz", "--data",
             "data.npz", "-q", "--refine", "-o", "refined.npz", cwd=d)
    before, after = map(float, re.search(
        r"loss-aware scales: loss ([0-9.]+) -> ([0-9.]+) on 256 samples",
        out).groups())
    assert after < before, out
    minmax, refined = np.load(d / "minmax.npz"), np.load(d / "refined.npz")
    assert set(minmax.files) == set(refined.files)
    changed = [k for k in minmax.files
               if not np.array_equal(minmax[k], refined[k])]
    assert changed and all(k.endswith("_scale") for k in changed), changed


def test_instrument_keeps_logits_at_8_bits_below_8(project, tmp_path):
    """Below 8-bit activations the last layer's output stays at 8 bits
    unless --last-act-bits says otherwise; a bad width is a user error."""
    import shutil
    d = tmp_path
    shutil.copy(project / "mlp.onnx", d / "mlp.onnx")
    ok("import", "mlp.onnx", "--batch", 32, cwd=d)

    def outputs(*flags):
        plan = ok("instrument", "mlp.mlir", "--dry-run", *flags, cwd=d)
        return re.findall(r"activation (\w+ \w+)[^:]*: (\d+)-bit", plan)

    assert outputs("--act-bits", 4) == [("input image", "4"),
                                        ("matmul_0 output", "4"),
                                        ("matmul_1 output", "8")]
    assert outputs("--act-bits", 4, "--last-act-bits", 4)[-1] == \
        ("matmul_1 output", "4")
    assert outputs("--act-bits", 16)[-1] == ("matmul_1 output", "16")
    out = ok("instrument", "mlp.mlir", "--act-bits", 4, cwd=d)
    assert "(W8A4, logits 8-bit)" in out, out
    result = user_error("instrument", "mlp.mlir", "--last-act-bits", 1,
                        cwd=d)
    assert "last-act-bits: bit width 1 is out of range" in result


def test_search_chooses_within_the_budget_and_reports_the_front(project,
                                                                tmp_path):
    """`search`: the chosen widths fit the budget (their size computed
    here from the weight shapes), the config instruments the model, the
    report has the front with deployed accuracies and the plot; a budget
    nothing fits and an instrumented model are user errors."""
    import json
    import shutil
    d = tmp_path
    for name in ("mlp.onnx", "data.npz"):
        shutil.copy(project / name, d / name)
    ok("import", "mlp.onnx", "--batch", 32, cwd=d)
    ok("train", "mlp.mlir", "--values", "mlp.npz", "--data", "data.npz",
       "--epochs", 1, "--lr", 0.1, "-q", cwd=d)
    out = ok("search", "mlp.mlir", "--values", "mlp.trained.npz", "--data",
             "data.npz", "--budget-kib", 14, "--front-points", 2,
             "--epochs", 0.25, "-q", cwd=d)
    chosen = json.load(open(d / "mlp.search" / "mixed.json"))["layers"]
    bits = {entry["name"]: entry["weight_bits"] for entry in chosen}
    # fc0 784x32 and fc1 32x4 (as the layer reads them): 8 / bits codes
    # per byte (both counts are multiples of 4); biases int32.
    size = sum(n * bits[name] // 8 for name, n in
               (("matmul_0", 784 * 32), ("matmul_1", 32 * 4))) + 4 * 36
    assert size <= 14 * 1024, (bits, out)
    assert f"{size / 1024:.1f} KiB of weights (budget 14)" in out, out
    report = (d / "mlp.search" / "search.md").read_text()
    assert "## Pareto front" in report and "(chosen)" in report
    assert re.search(r"\| [0-9.]+% \| \d+ \|", report), report
    assert "All layers at 8 bits, trained the same way" in report
    assert (d / "mlp.search" / "pareto.png").stat().st_size > 1000
    plan = ok("instrument", "mlp.mlir", "--config",
              "mlp.search/mixed.json", "--dry-run", cwd=d)
    for name, b in bits.items():
        assert f"layer {name} (linalg.matmul): weight {b}-bit" in plan
    err = user_error("search", "mlp.mlir", "--values", "mlp.trained.npz",
                     "--data", "data.npz", "--budget-kib", 1,
                     "--front-points", 0, cwd=d)
    assert "--budget-kib 1: even all layers at 2 bits take" in err, err
    ok("instrument", "mlp.mlir", cwd=d)
    err = user_error("search", "mlp.qat.mlir", "--values", "mlp.npz",
                     "--budget-kib", 10, cwd=d)
    assert "already instrumented" in err, err


def test_train_distils_from_a_frozen_teacher(project, tmp_path):
    """`train --teacher`: a float model frozen by `freeze --function` is the
    teacher (at another batch: train re-batches it); its soft targets move
    the student elsewhere than plain cross-entropy does. Bad options and a
    teacher of another network are one-line errors."""
    d = tmp_path
    w4a4_mlp(project, d)
    ok("train", "mlp.mlir", "--values", "mlp.npz", "--data", "data.npz",
       "--epochs", 1, "--lr", 0.1, "-q", cwd=d)
    ok("freeze", "mlp.mlir", "--values", "mlp.trained.npz", "--function",
       "mlp", "-o", "teacher.mlir", cwd=d)
    ok("calibrate", "mlp.qat.mlir", "--values", "mlp.trained.npz", "--data",
       "data.npz", "-q", "-o", "cal.npz", cwd=d)

    def train(out, *flags):
        return ok("train", "mlp.qat.mlir", "--values", "mlp.trained.npz",
                  "cal.npz", "--data", "data.npz", "--epochs", 0.5,
                  "--batch-size", 16, "--optimizer", "adam", "--lr", 1e-3,
                  "-q", "-o", out, *flags, cwd=d)

    plain = train("plain.npz")
    distilled = train("distilled.npz", "--teacher", "teacher.mlir",
                      "--distill-temperature", 2, "--distill-weight", 0.9)
    assert "loss" in plain and "loss" in distilled
    a, b = np.load(d / "plain.npz"), np.load(d / "distilled.npz")
    assert not np.array_equal(a["fc0.weight"], b["fc0.weight"])
    err = user_error("train", "mlp.qat.mlir", "--values", "mlp.trained.npz",
                     "cal.npz", "--data", "data.npz", "--teacher",
                     "teacher.mlir", "--distill-weight", 2, cwd=d)
    assert "expected a number <= 1, got 2" in err, err
    err = user_error("train", "mlp.qat.mlir", "--values", "mlp.trained.npz",
                     "cal.npz", "--data", "data.npz", "--teacher", "none.mlir",
                     cwd=d)
    assert "none.mlir: no such file" in err, err
    # Not frozen: the float model takes its weights as arguments.
    err = user_error("train", "mlp.qat.mlir", "--values", "mlp.trained.npz",
                     "cal.npz", "--data", "data.npz", "--teacher", "mlp.mlir",
                     cwd=d)
    assert "must take the forward's inputs" in err, err
    # The instrumented model holds two functions (the forward, its
    # initialiser).
    err = user_error("train", "mlp.qat.mlir", "--values", "mlp.trained.npz",
                     "cal.npz", "--data", "data.npz", "--teacher",
                     "mlp.qat.mlir", cwd=d)
    assert "expected one function, found 2" in err, err


def test_search_under_a_latency_budget(project, tmp_path):
    """`search --budget-us`: each variant's deployed batch-1 latency is
    measured; the chosen widths' predicted latency is within the budget
    and the report shows the latency changes; an impossible budget names
    the fastest prediction; one budget, not two or none."""
    import shutil
    d = tmp_path
    for name in ("mlp.onnx", "data.npz"):
        shutil.copy(project / name, d / name)
    ok("import", "mlp.onnx", "--batch", 32, cwd=d)
    out = ok("search", "mlp.mlir", "--values", "mlp.npz", "--data",
             "data.npz", "--budget-us", 1000, "--front-points", 0, "-q",
             cwd=d)
    predicted = float(re.search(r"KiB of weights ([0-9.]+) us predicted "
                                r"\(budget 1000 us\)", out).group(1))
    assert 0 < predicted <= 1000, out
    report = (d / "mlp.search" / "search.md").read_text()
    assert "us of predicted batch-1 latency" in report, report
    assert "| predicted latency (us) |" in report, report
    assert re.search(r"\| matmul_0 \| 784x32 \| [-+][0-9.]+; [-+][0-9.]+ \|",
                     report), report
    err = user_error("search", "mlp.mlir", "--values", "mlp.npz", "--data",
                     "data.npz", "--budget-us", 0.001, "--front-points", 0,
                     cwd=d)
    assert "--budget-us 0.001: the fastest widths are predicted at" in err
    err = user_error("search", "mlp.mlir", "--values", "mlp.npz",
                     "--budget-us", 10, "--budget-kib", 10, cwd=d)
    assert "expected one budget, --budget-kib (weights) or --budget-us" \
        " (predicted batch-1 latency), got both" in err, err
    err = user_error("search", "mlp.mlir", "--values", "mlp.npz", cwd=d)
    assert "got neither" in err, err
