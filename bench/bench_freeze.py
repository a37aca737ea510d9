"""Freezing and compiling a large network: values in binary (.npz) next to
the JSON text they used to travel as.

    /usr/bin/python3 bench/bench_freeze.py              # 25.2M parameters
    /usr/bin/python3 bench/bench_freeze.py --dims 1024,1024,512

The network is an MLP whose weights total about ResNet-50's 25M parameters
(4096-4096-2048 by default). Each row times one step end to end from Python,
as the front end runs it: writing the values file, qat-opt --qat-freeze
(parse, convert, print the frozen module), then for the int8 program
qat-deploy-pipeline and qat-compile. The peer is the JSON route this
project used before (json.dump of nested lists + the same pass reading
JSON). Throughput is the weights' bytes over the step's time; this machine's
memory bandwidth (tens of GB/s) is the physical limit.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import QAT_COMPILE  # noqa: E402
from qat import pipeline, workflow  # noqa: E402


def mlp(dims):
    """An MLP without biases or activations: linalg.matmul layers only."""
    args = [f'%x: tensor<1x{dims[0]}xf32> {{qat.name = "x", '
            'qat.role = "input"}']
    body, value = [], "%x"
    for i, (k, n) in enumerate(zip(dims, dims[1:])):
        args.append(f'%w{i}: tensor<{k}x{n}xf32> {{qat.name = "fc{i}.weight"}}')
        out = f"tensor<1x{n}xf32>"
        body += [f"  %e{i} = tensor.empty() : {out}",
                 f"  %c{i} = arith.constant 0.0 : f32",
                 f"  %f{i} = linalg.fill ins(%c{i} : f32) outs(%e{i} : {out})"
                 f" -> {out}",
                 f"  %y{i} = linalg.matmul ins({value}, %w{i} : "
                 f"tensor<1x{k}xf32>, tensor<{k}x{n}xf32>) outs(%f{i} : {out})"
                 f" -> {out}"]
        value = f"%y{i}"
    return (f"func.func @net({', '.join(args)}) -> tensor<1x{dims[-1]}xf32> "
            "{\n" + "\n".join(body) +
            f"\n  return {value} : tensor<1x{dims[-1]}xf32>\n}}\n")


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dims", default="4096,4096,2048",
                        help="layer widths (default: 25.2M parameters)")
    parser.add_argument("--skip-json", action="store_true",
                        help="time only the binary route")
    args = parser.parse_args()
    dims = [int(d) for d in args.dims.split(",")]
    text = mlp(dims)
    rng = np.random.default_rng(0)
    weights = {f"fc{i}.weight": (rng.standard_normal((k, n)) * 0.05)
               .astype(np.float32) for i, (k, n) in enumerate(zip(dims,
                                                                  dims[1:]))}
    count = sum(w.size for w in weights.values())
    megabytes = 4 * count / 1e6
    print(f"MLP {'-'.join(map(str, dims))}: {count / 1e6:.1f}M parameters "
          f"({megabytes:.0f} MB of float32)\n")

    rows = []
    with tempfile.TemporaryDirectory() as work:
        npz = os.path.join(work, "values.npz")
        _, t_save = timed(lambda: pipeline.save_values(npz, weights))
        frozen, t_freeze = timed(lambda: pipeline.run(
            text, "qat-freeze", values=npz, function="net"))
        binary = t_save + t_freeze

        json_total = None
        if not args.skip_json:
            path = os.path.join(work, "values.json")

            def write_json():
                with open(path, "w") as f:
                    json.dump({k: v.tolist() for k, v in weights.items()}, f)

            _, t_json_write = timed(write_json)
            _, t_json_freeze = timed(lambda: pipeline.run(
                text, "qat-freeze", values=path, function="net"))
            json_total = t_json_write + t_json_freeze
            rows.append(("freeze fp32 weights", json_total, binary))
        else:
            rows.append(("freeze fp32 weights", None, binary))

        # The int8 route: instrument, initial scales, freeze everything,
        # convert, compile.
        instrumented = workflow.instrument(text)
        model_dir = os.path.join(work, "init")
        init = pipeline.load(instrumented, model_dir, "init").net_init_qparams
        x = rng.random((1, dims[0]), dtype=np.float32)
        out = init(*[dict(weights, x=x)[a.name] for a in init.args])
        out = out if isinstance(out, tuple) else (out,)
        values = dict(weights, **{r.name: v for r, v in zip(init.results,
                                                             out)})
        q_frozen, t_q = timed(lambda: workflow.freeze(instrumented, values,
                                                      "net"))
        integer, t_convert = timed(lambda: workflow.convert(q_frozen))
        source = os.path.join(work, "int8.mlir")
        with open(source, "w") as f:
            f.write(integer)
        _, t_compile = timed(lambda: subprocess.run(
            [QAT_COMPILE, source, "-o", os.path.join(work, "libint8.so")],
            check=True))
        rows.append(("freeze int8 (weights + scales)", None, t_q))
        rows.append(("qat-deploy-pipeline", None, t_convert))
        rows.append(("qat-compile int8 .so", None, t_compile))
        rows.append(("freeze + convert + compile", None,
                     t_q + t_convert + t_compile))

    print("| step | JSON text (s) | .npz binary (s) | JSON / binary | "
          "binary MB/s |")
    print("|---|---|---|---|---|")
    for name, peer, ours in rows:
        ratio = f"{peer / ours:.1f}x" if peer else "-"
        print(f"| {name} | {f'{peer:.2f}' if peer else '-'} | {ours:.2f} | "
              f"{ratio} | {megabytes / ours:.0f} |")


if __name__ == "__main__":
    main()
