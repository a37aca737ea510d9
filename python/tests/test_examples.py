"""The README's example: docs/examples/mlp.mlir, compiled and called from
Python, against a numpy model of the same program."""

import os
import re

import numpy as np

from reference import choose_qparams, fake_quant

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                       "docs", "examples", "mlp.mlir")


def _constants(text):
    """The named dense hex constants of the example, as float32 arrays."""
    found = {}
    pattern = r'%(\w+) = arith.constant dense<"0x([0-9A-F]+)"> : tensor<([0-9x]+)xf32>'
    for name, data, shape in re.findall(pattern, text):
        dims = tuple(int(d) for d in shape.split("x"))
        found[name] = np.frombuffer(bytes.fromhex(data),
                                    dtype=np.float32).reshape(dims)
    return found


def _fake_quant_columns(w):
    """Symmetric narrow int8 per output column, scale from the range."""
    scale, zero = choose_qparams(w.min(axis=0), w.max(axis=0), 8, True,
                                 narrow=True, symmetric=True)
    return fake_quant(w, scale, zero, 8, True, narrow=True, axis=1)


def test_readme_example_matches_numpy(compile_mlir):
    with open(EXAMPLE) as f:
        text = f.read()
    model = compile_mlir(text, name="mlp_example")
    weights = _constants(text)
    image = np.random.default_rng(1).random((1, 784), dtype=np.float32)
    hidden = np.maximum(image @ _fake_quant_columns(weights["w1"])
                        + weights["b1"], 0)
    expected = hidden @ _fake_quant_columns(weights["w2"])
    np.testing.assert_allclose(model.mlp(image), expected, rtol=1e-4,
                               atol=1e-5)
    assert model.mlp.args[0].name == "image"
    assert model.mlp.results[0].name == "logits"
