"""Where the compiler tools, the runtime library and the version come from.

In order: an environment variable ($QAT_OPT, $QAT_COMPILE,
$QAT_RUNTIME_LIB), the install layout (`cmake --install` writes
qat/_install.py with its prefix), the build tree next to a source checkout
(build/bin, build/lib), then $PATH for the tools.
"""

import os
import shutil
from typing import List, Optional

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_SOURCE_ROOT = os.path.normpath(os.path.join(_PACKAGE, "..", ".."))

try:  # written by `cmake --install` into the installed package only
    from qat import _install  # type: ignore
except ImportError:  # a source checkout
    _install = None


class NotFound(Exception):
    """A tool or library is neither installed nor built."""


def _install_dir(kind: str) -> Optional[str]:
    return getattr(_install, kind, None) if _install else None


def _candidates(kind: str, name: str) -> List[str]:
    found = []
    installed = _install_dir(kind)
    if installed:
        found.append(os.path.join(installed, name))
    found.append(os.path.join(_SOURCE_ROOT, "build", kind, name))
    return found


def tool(name: str) -> str:
    """The path of qat-opt or qat-compile."""
    variable = name.upper().replace("-", "_")
    for path in (os.environ.get(variable), *_candidates("bin", name),
                 shutil.which(name)):
        if path and os.path.exists(path):
            return path
    raise NotFound(f"{name} not found: install qat-mlir, build it "
                   f"(scripts/setup.sh) or set {variable}")


def runtime_library() -> str:
    """The path of libqat_runtime.so."""
    env = os.environ.get("QAT_RUNTIME_LIB")
    if env:
        return env
    for path in _candidates("lib", "libqat_runtime.so"):
        if os.path.exists(path):
            return os.path.normpath(path)
    raise NotFound("cannot find libqat_runtime.so: install qat-mlir, build "
                   "it (scripts/setup.sh) or set QAT_RUNTIME_LIB")


def version() -> str:
    """The project version (the top-level VERSION file)."""
    if _install is not None:
        return _install.VERSION
    with open(os.path.join(_SOURCE_ROOT, "VERSION")) as f:
        return f.read().strip()


def version_line() -> str:
    """"qat-mlir 0.4.0 (LLVM 22.1.8)", as qat-opt --version prints it: the
    package's own version, and the LLVM version of the qat-opt it runs."""
    import re
    import subprocess
    llvm = "unknown: qat-opt not found"
    try:
        out = subprocess.run([tool("qat-opt"), "--version"],
                             capture_output=True, text=True).stdout
        match = re.search(r"\(LLVM ([^)]+)\)", out)
        if match:
            llvm = match.group(1)
    except NotFound:
        pass
    return f"qat-mlir {version()} (LLVM {llvm})"
