"""The compiler tools from Python: qat-opt and qat-compile on MLIR text.

Every stage runs by the name it is registered under in qat-opt (the C++
pipelines of lib/Pipelines, or a single pass), with its options as keyword
arguments:

    run(text, "qat-instrument-pipeline", weight_bits=4, act_bits=8)
    run(frozen, "qat-deploy-pipeline")

Values travel in binary: save_values writes the .npz archive qat-freeze
reads.

Tools are found by qat.locations: $QAT_OPT / $QAT_COMPILE, the install
prefix, the repository's build/bin, then $PATH. A tool that fails raises
ToolError with its first diagnostic (the location and message MLIR
printed).
"""

import contextlib
import os
import subprocess
import tempfile
import zipfile
from typing import Dict, Iterable, Sequence

import numpy as np

from qat.runtime import Entry, Model



class ToolError(Exception):
    """A compiler tool reported an error; the message is its diagnostic."""


def tool(name: str) -> str:
    """qat-opt or qat-compile: qat.locations.tool, as a ToolError."""
    from qat import locations
    try:
        return locations.tool(name)
    except locations.NotFound as error:
        raise ToolError(str(error)) from None


def _diagnostic(stderr: str) -> str:
    lines = [l for l in stderr.strip().splitlines() if l.strip()]
    errors = [l for l in lines if "error:" in l]
    return (errors or lines or ["(no message)"])[0].strip()


def _option(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if any(c in text for c in " \t'\"{}"):
        if "'" in text:
            raise ToolError(f"option value {text!r} has both a space and a "
                            "quote")
        return f"'{text}'"
    return text


def run(text: str, name: str, **options) -> str:
    """Runs the pipeline or pass registered in qat-opt as `name` on `text`
    with `options` (weight_bits=4 is the option weight-bits=4; None leaves
    an option at its default); returns the output text."""
    given = " ".join(f"{key.replace('_', '-')}={_option(value)}"
                     for key, value in options.items() if value is not None)
    flag = f"--{name}={given}" if given else f"--{name}"
    result = subprocess.run([tool("qat-opt"), flag, "-"], input=text,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolError(f"qat-opt --{name}: {_diagnostic(result.stderr)}")
    return result.stdout


@contextlib.contextmanager
def replacing(path: str, mode: str = "w"):
    """A file to write `path` through: a temporary file beside it, renamed
    over it when the block ends normally, removed otherwise. A kill leaves
    the old file or the complete new one. Every output of the front end is
    written this way."""
    partial = f"{path}.partial.{os.getpid()}"
    try:
        with open(partial, mode) as f:
            yield f
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def save_values(path: str, values: Dict[str, np.ndarray]) -> str:
    """Writes `values` as a NumPy .npz archive (uncompressed, what
    qat-freeze reads), through `replacing`."""
    with replacing(path, "wb") as out, zipfile.ZipFile(
            out, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, value in values.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(
                    f, np.asarray(value, order="C"), allow_pickle=False)
    return path


def compile_library(text: str, library: str, flags: Sequence[str] = ()) -> str:
    """Compiles `text` with qat-compile into the shared library `library`."""
    with tempfile.NamedTemporaryFile("w", suffix=".mlir", delete=False) as f:
        f.write(text)
        source = f.name
    try:
        result = subprocess.run([tool("qat-compile"), source, "-o", library,
                                 *flags], capture_output=True, text=True)
    finally:
        os.unlink(source)
    if result.returncode != 0:
        raise ToolError(f"qat-compile: {_diagnostic(result.stderr)}")
    return library


def load(text: str, directory: str, name: str,
         flags: Sequence[str] = ()) -> Model:
    """Compiles `text` to `directory`/lib`name`.so and opens it. The front
    end's programs are called many times (training steps, evaluation), so
    malloc keeps freed memory (qat.runtime.keep_freed_memory)."""
    os.makedirs(directory, exist_ok=True)
    return Model(compile_library(text, os.path.join(directory,
                                                    f"lib{name}.so"), flags),
                 keep_freed_memory=True)


def arguments(entry: Entry, values: Dict[str, np.ndarray]) -> list:
    """`entry`'s arguments looked up in `values` by full name
    ("momentum:w", "lr"), else by the name after the kind ("param:w" as
    "w"). A missing one raises KeyError naming it."""
    args = []
    for info in entry.args:
        if info.name in values:
            args.append(values[info.name])
            continue
        _, _, bare = info.name.partition(":")
        if bare and bare in values:
            args.append(values[bare])
            continue
        raise KeyError(f"no value for argument '{info.name}' of "
                       f"@{entry.name}")
    return args


def named_call(entry: Entry, values: Dict[str, np.ndarray]) -> Dict[str,
                                                                   np.ndarray]:
    """Calls `entry` with `arguments(entry, values)`; returns its results
    by name."""
    out = entry(*arguments(entry, values))
    out = out if isinstance(out, tuple) else (out,)
    return {r.name: v for r, v in zip(entry.results, out)}


def bare(values: Dict[str, np.ndarray],
         kinds: Iterable[str] = ("param", "qparam")) -> Dict[str, np.ndarray]:
    """{"param:w": ..., "qparam:s": ...} -> {"w": ..., "s": ...}."""
    out = {}
    for name, value in values.items():
        kind, _, rest = name.partition(":")
        if rest and kind in kinds:
            out[rest] = value
    return out
