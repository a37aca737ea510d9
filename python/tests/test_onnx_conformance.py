"""ONNX's backend tests (Debian's libonnx-testdata) whose ops qat-import
supports, imported, compiled and run against their expected outputs
(onnx_conformance.py has the harness and the rules). Fails on any crash of
a tool, and if a test of the checked-in passing list stops passing; prints
the table and every failure."""

import os

import pytest

pytest.importorskip("onnx")
if not os.path.isdir("/usr/share/libonnx-testdata/data/node"):
    pytest.skip("libonnx-testdata is not installed (scripts/setup.sh "
                "installs it)", allow_module_level=True)

import onnx_conformance as conformance  # noqa: E402


def test_onnx_backend_conformance(capsys):
    tests, results = conformance.run_all(workers=os.cpu_count() or 2)
    table = conformance.report(tests, results)
    with capsys.disabled():
        print("\n" + table)
        for name, (status, detail) in sorted(results.items()):
            if status in ("fail", "crash"):
                print(f"  {status}: {name}: {detail}")
    crashes = [n for n, (s, _) in results.items() if s == "crash"]
    assert not crashes, f"tools crashed on {crashes}"
    with open(conformance.PASSING) as f:
        expected = {line.strip() for line in f
                    if line.strip() and not line.startswith("#")}
    regressed = sorted(n for n in expected if results.get(n, ("", ""))[0]
                       != "pass")
    assert not regressed, "no longer pass: " + ", ".join(
        f"{n} ({results.get(n, ('missing', ''))[1]})" for n in regressed)
    in_scope = [n for n, (s, _) in results.items() if s != "out of scope"]
    assert len(expected) >= 0.9 * len(in_scope)
