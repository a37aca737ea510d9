"""The compiler tools from Python: qat-opt and qat-compile on MLIR text.

Tools are found through $QAT_OPT / $QAT_COMPILE, then the repository's
build/bin, then $PATH. A tool that fails raises ToolError with its first
diagnostic (the location and message MLIR printed).
"""

import os
import shutil
import subprocess
import tempfile
from typing import Dict, Iterable, Sequence

import numpy as np

from qat.runtime import Entry, Model

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class ToolError(Exception):
    """A compiler tool reported an error; the message is its diagnostic."""


def tool(name: str) -> str:
    variable = name.upper().replace("-", "_")
    for path in (os.environ.get(variable),
                 os.path.join(_ROOT, "build", "bin", name), shutil.which(name)):
        if path and os.path.exists(path):
            return path
    raise ToolError(f"{name} not found: build the project (scripts/setup.sh) "
                    f"or set {variable}")


def _diagnostic(stderr: str) -> str:
    lines = [l for l in stderr.strip().splitlines() if l.strip()]
    errors = [l for l in lines if "error:" in l]
    return (errors or lines or ["(no message)"])[0].strip()


def qat_opt(text: str, *flags: str) -> str:
    """Runs qat-opt with `flags` on `text`; returns the output text."""
    result = subprocess.run([tool("qat-opt"), *flags, "-"], input=text,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolError(f"qat-opt {' '.join(flags)}: "
                        f"{_diagnostic(result.stderr)}")
    return result.stdout


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
    """Compiles `text` to `directory`/lib`name`.so and opens it."""
    os.makedirs(directory, exist_ok=True)
    return Model(compile_library(text, os.path.join(directory,
                                                    f"lib{name}.so"), flags))


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
