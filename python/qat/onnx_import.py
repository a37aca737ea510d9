"""ONNX models into the front end, through the `qat-import` tool.

    imported = import_onnx("model.onnx", batch=64)
    imported.text      # MLIR: func.func @<name>(input, parameters...) -> outputs
    imported.params    # {name: np.ndarray} in the layout the function takes

The translation is qat-import's (lib/Frontend/ONNX, C++; docs/Frontend.md
lists the ops, the NHWC layout and the parameters' layouts). This module
runs it with --weights, so that the parameters' values come back as an .npz
archive rather than as blobs inside the text every later pass would carry,
and reads its --summary (the function, its inputs and outputs, op counts).

Every unsupported op, attribute, dynamic dimension or malformed file raises
`OnnxImportError` with qat-import's one-line message, which names the node,
its op type and what is missing.
"""

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from qat import locations


class OnnxImportError(Exception):
    """A model the importer cannot translate; the message names the node."""


@dataclass
class Imported:
    text: str
    params: Dict[str, np.ndarray]
    function: str
    inputs: List[Tuple[str, Tuple[int, ...]]]  # logical (ONNX) shapes
    outputs: List[Tuple[str, Tuple[int, ...]]]
    ops: Dict[str, int] = field(default_factory=dict)  # op type -> count
    # (mean, std) per channel, when the program normalizes its inputs.
    normalize: Optional[Tuple[List[float], List[float]]] = None


def _message(stderr: str, returncode: int) -> str:
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith("qat-import: error: "):
            return line[len("qat-import: error: "):]
    if returncode < 0:
        import signal
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"qat-import was killed by {name}" + (
            " (out of memory?)" if name == "SIGKILL" else "")
    first = next((l for l in stderr.splitlines() if l.strip()), "")
    return first or f"qat-import failed with exit status {returncode}"


def import_onnx(model_or_path, batch: int = 1,
                name: Optional[str] = None,
                normalize: Optional[Tuple[Sequence[float],
                                          Sequence[float]]] = None) -> Imported:
    """Translates an ONNX model (a path or a ModelProto) with static shapes
    (a symbolic batch dimension becomes `batch`). `normalize` = (mean, std)
    per channel (or one value each) puts (x - mean) / std on every float
    input into the program itself, so that training, evaluation and the
    deployed library all apply it."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise OnnxImportError(f"batch must be a positive integer, got "
                              f"{batch!r}")
    try:
        tool = locations.tool("qat-import")
    except locations.NotFound as err:
        raise OnnxImportError(str(err)) from None
    with tempfile.TemporaryDirectory(prefix="qat-import-") as scratch:
        if isinstance(model_or_path, (str, os.PathLike)):
            path = os.fspath(model_or_path)
            if not os.path.exists(path):
                raise OnnxImportError(f"{path}: no such file")
        else:
            path = os.path.join(scratch, "model.onnx")
            with open(path, "wb") as f:
                f.write(model_or_path.SerializeToString())
        mlir = os.path.join(scratch, "out.mlir")
        weights = os.path.join(scratch, "weights.npz")
        command = [tool, path, "-o", mlir, "--weights", weights,
                   "--batch", str(batch), "--summary"]
        if name:
            command += ["--name", name]
        if normalize is not None:
            mean, std = normalize
            command += ["--mean=" + ",".join(repr(float(v)) for v in mean),
                        "--std=" + ",".join(repr(float(v)) for v in std)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise OnnxImportError(_message(result.stderr, result.returncode))
        summary = json.loads(result.stdout)
        with open(mlir) as f:
            text = f.read()
        with np.load(weights) as archive:
            params = {k: archive[k] for k in archive.files}
    shape = lambda entry: tuple(entry["shape"])  # noqa: E731
    return Imported(
        text=text,
        params={p["name"]: params[p["name"]] for p in summary["parameters"]},
        function=summary["function"],
        inputs=[(i["name"], shape(i)) for i in summary["inputs"]],
        outputs=[(o["name"], shape(o)) for o in summary["outputs"]],
        ops=dict(summary["ops"]),
        normalize=((summary["normalize"]["mean"], summary["normalize"]["std"])
                   if "normalize" in summary else None))
