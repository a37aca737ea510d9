"""Fixtures: compile MLIR text with qat-compile and open it with the runtime."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from qat.runtime import Model  # noqa: E402


def _tool(name: str) -> str:
    variable = name.upper().replace("-", "_")
    path = os.environ.get(variable) or os.path.join(
        HERE, "..", "..", "build", "bin", name)
    if not os.path.exists(path):
        pytest.fail(f"{name} not found at {path}: build the project or set "
                    f"{variable}")
    return path


def _qat_compile() -> str:
    return _tool("qat-compile")


@pytest.fixture
def qat_opt():
    """qat_opt(text, *flags) -> the output of qat-opt on `text`."""

    def run(text: str, *flags: str) -> str:
        result = subprocess.run([_tool("qat-opt"), *flags, "-"], input=text,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout

    return run


@pytest.fixture
def compile_mlir(tmp_path):
    """compile_mlir(text) -> Model of the compiled library."""
    models = []

    def compile(text: str, name: str = "model", flags=()) -> Model:
        source = tmp_path / f"{name}.mlir"
        source.write_text(text)
        library = tmp_path / f"lib{name}.so"
        result = subprocess.run(
            [_qat_compile(), str(source), "-o", str(library), *flags],
            capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        model = Model(str(library))
        models.append(model)
        return model

    yield compile
    for model in models:
        model.close()
