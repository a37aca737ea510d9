#!/usr/bin/env python3
"""ONNX's backend test data (Debian's libonnx-testdata) through qat-import,
qat-compile and the runtime, against the expected outputs.

    onnx_conformance.py                 # run, print the table and failures
    onnx_conformance.py --update        # also rewrite the passing list
    onnx_conformance.py -k conv         # only tests whose name has 'conv'

A test is *in scope* when every op of its model is one qat-import lists as
supported (`qat-import --list-ops`); the pass rate counts those. A test
passes when it imports, compiles, runs and every output matches (floats to
rtol 1e-3, atol 1e-4; integers and booleans exactly). A tool killed by a
signal is a crash, counted apart. python/tests/onnx_conformance_passing.txt
lists the tests that passed when it was last updated;
test_onnx_conformance.py fails if any of them stops passing, or on any
crash.
"""

import argparse
import collections
import glob
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from qat import locations  # noqa: E402

DATA = "/usr/share/libonnx-testdata/data"
SUITES = ("node", "pytorch-converted")
PASSING = os.path.join(HERE, "onnx_conformance_passing.txt")


def supported_ops():
    out = subprocess.run([locations.tool("qat-import"), "--list-ops"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def discover(ops, pattern=""):
    """[(name, folder, in_scope, op types)] of every test."""
    import onnx
    tests = []
    for suite in SUITES:
        for folder in sorted(glob.glob(os.path.join(DATA, suite, "*"))):
            path = os.path.join(folder, "model.onnx")
            name = f"{suite}/{os.path.basename(folder)}"
            if not os.path.exists(path) or pattern not in name:
                continue
            model = onnx.load(path)
            types = sorted({n.op_type for n in model.graph.node} |
                           {f"{n.domain}:{n.op_type}" for n in
                            model.graph.node if n.domain not in ("",
                                                                 "ai.onnx")})
            tests.append((name, folder, set(types) <= ops, types))
    return tests


def _tensors(folder, kind):
    from onnx import TensorProto, numpy_helper
    arrays = []
    for path in sorted(glob.glob(os.path.join(folder, "test_data_set_0",
                                              f"{kind}_*.pb")),
                       key=lambda p: int(p.rsplit("_", 1)[1][:-3])):
        t = TensorProto()
        with open(path, "rb") as f:
            t.ParseFromString(f.read())
        arrays.append(numpy_helper.to_array(t))
    return arrays


def _signal_name(code):
    import signal
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def run_one(folder, scratch):
    """(status, detail): status is pass, fail or crash."""
    from qat.runtime import Model
    mlir = os.path.join(scratch, "model.mlir")
    weights = os.path.join(scratch, "weights.npz")
    result = subprocess.run(
        [locations.tool("qat-import"), os.path.join(folder, "model.onnx"),
         "-o", mlir, "--weights", weights, "--summary", "--name", "test"],
        capture_output=True, text=True)
    if result.returncode < 0:
        return "crash", f"qat-import: {_signal_name(result.returncode)}"
    if result.returncode:
        return "fail", "import: " + result.stderr.strip().splitlines()[-1] \
            .replace("qat-import: error: ", "")
    summary = json.loads(result.stdout)
    library = os.path.join(scratch, "libtest.so")
    result = subprocess.run([locations.tool("qat-compile"), mlir, "-o",
                             library], capture_output=True, text=True)
    if result.returncode < 0:
        return "crash", f"qat-compile: {_signal_name(result.returncode)}"
    if result.returncode:
        lines = [l for l in result.stderr.splitlines() if "error" in l]
        return "fail", "compile: " + (lines[0] if lines else
                                      result.stderr.strip()[:200])
    inputs = _tensors(folder, "input")
    expected = _tensors(folder, "output")
    with np.load(weights) as archive:
        params = {k: archive[k] for k in archive.files}
    if len(inputs) != len(summary["inputs"]):
        return "fail", (f"run: {len(inputs)} input files for "
                        f"{len(summary['inputs'])} graph inputs")
    try:
        model = Model(library)
    except Exception as err:  # noqa: BLE001 - reported, not raised
        return "fail", f"load: {err}"
    try:
        entry = model["test"]
        feeds = iter(inputs)
        args = []
        for info in entry.args:
            if info.name in params:
                args.append(params[info.name])
            else:
                x = next(feeds)
                if x.dtype == np.float16:
                    return "fail", f"run: input of dtype {x.dtype}"
                args.append(np.asarray(x, order="C"))
        got = entry(*args)
        got = got if isinstance(got, tuple) else (got,)
    except Exception as err:  # noqa: BLE001 - reported, not raised
        return "fail", f"run: {err}"
    finally:
        model.close()
    if len(got) != len(expected):
        return "fail", f"{len(got)} outputs, expected {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        if g.shape != e.shape:
            return "fail", f"output {i}: shape {g.shape}, expected {e.shape}"
        if e.dtype.kind == "f":
            if not np.allclose(g.astype(np.float64), e.astype(np.float64),
                               rtol=1e-3, atol=1e-4, equal_nan=True):
                worst = np.nanmax(np.abs(g.astype(np.float64) - e))
                return "fail", f"output {i}: max abs error {worst:.3g}"
        elif not np.array_equal(g.astype(e.dtype), e):
            return "fail", f"output {i}: values differ"
    return "pass", ""


def run_all(pattern="", workers=2):
    ops = supported_ops()
    tests = discover(ops, pattern)
    results = {}

    def task(test):
        name, folder, in_scope, _ = test
        if not in_scope:
            return name, ("out of scope", "")
        with tempfile.TemporaryDirectory(prefix="qat-conf-") as scratch:
            return name, run_one(folder, scratch)

    with ThreadPoolExecutor(workers) as pool:
        for name, outcome in pool.map(task, tests):
            results[name] = outcome
    return tests, results


def report(tests, results):
    counts = collections.Counter()
    for suite in SUITES:
        for name, _, in_scope, _ in tests:
            if name.startswith(suite + "/"):
                counts[suite, results[name][0]] += 1
    lines = ["| suite | tests | in scope (ops supported) | pass | fail | "
             "crash | pass rate |", "|---|---|---|---|---|---|---|"]
    for suite in SUITES:
        total = sum(v for (s, _), v in counts.items() if s == suite)
        scope = total - counts[suite, "out of scope"]
        passed = counts[suite, "pass"]
        lines.append(f"| {suite} | {total} | {scope} | {passed} | "
                     f"{counts[suite, 'fail']} | {counts[suite, 'crash']} | "
                     f"{100.0 * passed / max(scope, 1):.1f}% |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only tests whose name has "
                        "this")
    parser.add_argument("--update", action="store_true",
                        help=f"rewrite {os.path.basename(PASSING)}")
    parser.add_argument("-j", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    tests, results = run_all(args.k, args.j)
    print(report(tests, results))
    failures = sorted((n, d) for n, (s, d) in results.items()
                      if s in ("fail", "crash"))
    if failures:
        print("\nfailures:")
        for name, detail in failures:
            print(f"  {name}: {detail}")
    if args.update:
        with open(PASSING, "w") as f:
            f.write("# ONNX backend tests that pass (onnx_conformance.py "
                    "--update)\n")
            for name in sorted(n for n, (s, _) in results.items()
                               if s == "pass"):
                f.write(name + "\n")


if __name__ == "__main__":
    main()
