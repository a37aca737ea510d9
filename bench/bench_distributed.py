#!/usr/bin/python3
"""Data-parallel QAT: time per global batch on 1 and 2 ranks at equal work.

    /usr/bin/python3 bench/bench_distributed.py [--steps 40] [--repeat 3]

The demo CNN (conv16-pool-conv32-pool-fc, 8-bit LSQ QAT), global batch 128,
on this machine's cores:
  * ours, 1 process, 2 threads: the fused @train_step at batch 128, and
    --accumulate 2 at batch 64 (the split step: @gradients + @apply_update);
  * ours, mpirun -np 2, 1 thread each, batch 64 per rank: the default
    4 MiB buckets (the CNN's 82 KB of gradients make one), 16 KiB buckets
    (5 non-blocking all-reduces in flight), and --deterministic
    (all-gather, summed in rank order);
  * PyTorch 1.13 eager QAT (prepare_qat_fx), 1 process batch 128 on 2
    threads, and DistributedDataParallel (gloo) on 2 ranks x 64, 1 thread
    each: the peer's own scaling.
Each row trains --steps steps --repeat times after a warm-up; the table has
the median time per global batch, its ratio to the same engine's 1-process
time, the all-reduce share of the step (ours: time in MPI calls on rank 0)
and GFLOP/s against the machine's FMA peak. A benchmark, not a test.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

import numpy as np  # noqa: E402


#: Multiply-adds per sample of the CNN's forward: conv 1->16 3x3 at 28x28,
#: conv 16->32 3x3 at 14x14, fc 1568->10. A training step is about 3x the
#: forward (forward, input and weight gradients).
FORWARD_MACS = 28 * 28 * 16 * 9 + 14 * 14 * 32 * 16 * 9 + 1568 * 10
STEP_FLOPS_PER_SAMPLE = 3 * 2 * FORWARD_MACS

ENV = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"),
           OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")


def launch(ranks, threads, *args):
    """Runs this script's worker on `ranks` ranks; rank 0's JSON line."""
    command = [sys.executable, os.path.abspath(__file__), *map(str, args)]
    if ranks > 1:
        command = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np",
                   str(ranks)] + command
    env = dict(ENV, OMP_NUM_THREADS=str(threads))
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"worker failed: {' '.join(command)}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def ours_worker(args):
    from qat import distributed, workflow
    from qat.data import Split
    comm = (distributed.World(bucket_bytes=int(args.bucket_mb * (1 << 20)))
            if distributed.launched_by_mpirun() else distributed.Single())
    with np.load(args.values) as z:
        values = {k: z[k] for k in z.files}
    with np.load(args.data) as z:
        data = Split(z["x"], z["y"])
    with open(args.model) as f:
        text = f.read()
    trainer = workflow.Trainer(text, values, args.workdir,
                               f"bench_{comm.rank}_{args.accumulate}",
                               accumulate=args.accumulate, comm=comm)
    per_epoch = len(data.x) // (trainer.batch * args.accumulate * comm.size)
    fit = dict(progress=False, deterministic=args.deterministic)
    trainer.fit(data, 3 / per_epoch, 0.01, **fit)  # warm-up
    times, reduces = [], []
    for _ in range(args.repeat):
        comm.barrier()
        before = getattr(comm, "reduce_seconds", 0.0)
        start = time.perf_counter()
        trainer.fit(data, args.steps / per_epoch, 0.01, **fit)
        times.append((time.perf_counter() - start) / args.steps)
        reduces.append((getattr(comm, "reduce_seconds", 0.0) - before) /
                       args.steps)
    if comm.rank == 0:
        print(json.dumps({"step": statistics.median(times),
                          "reduce": statistics.median(reduces)}))


def torch_worker(args):
    import torch
    import torch.distributed as dist
    from torch import nn
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", 0))
    size = int(os.environ.get("OMPI_COMM_WORLD_SIZE", 1))
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
                        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(1568, 10))
    from torch.ao.quantization import get_default_qat_qconfig_mapping
    from torch.ao.quantization.quantize_fx import prepare_qat_fx
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = prepare_qat_fx(net.train(), get_default_qat_qconfig_mapping(
            "x86"), example_inputs=(torch.zeros(1, 1, 28, 28),))
    if size > 1:
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", "29533")
        dist.init_process_group("gloo", rank=rank, world_size=size)
        net = nn.parallel.DistributedDataParallel(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    batch = 128 // size
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    for _ in range(3):
        step()
    times = []
    for _ in range(args.repeat):
        if size > 1:
            dist.barrier()
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        times.append((time.perf_counter() - start) / args.steps)
    if rank == 0:
        print(json.dumps({"step": statistics.median(times), "reduce": None}))
    if size > 1:
        dist.destroy_process_group()


def prepare(folder):
    """The CNN at batch 64 and 128, instrumented, with calibrated values,
    and 8,192 random images."""
    import onnx
    from qat import models, workflow
    from qat.onnx_import import import_onnx
    from qat import pipeline
    rng = np.random.default_rng(0)
    x = rng.random((8192, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 8192).astype(np.int32)
    data = os.path.join(folder, "data.npz")
    np.savez(data, x=x, y=y)
    path = os.path.join(folder, "cnn.onnx")
    onnx.save(models.cnn(), path)
    texts = {}
    for batch in (64, 128):
        imported = import_onnx(path, batch=batch)
        texts[batch] = workflow.instrument(imported.text)
        with open(os.path.join(folder, f"cnn{batch}.mlir"), "w") as f:
            f.write(texts[batch])
    trainer = workflow.Trainer(texts[64], imported.params, folder, "calib",
                               range_learning="none")
    trainer.calibrate(x, 8)
    values = os.path.join(folder, "values.npz")
    pipeline.save_values(values, trainer.values)
    return data, values


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--worker", choices=["ours", "torch"])
    p.add_argument("--model")
    p.add_argument("--values")
    p.add_argument("--data")
    p.add_argument("--workdir")
    p.add_argument("--accumulate", type=int, default=1)
    p.add_argument("--bucket-mb", type=float, default=4.0)
    p.add_argument("--deterministic", action="store_true")
    args = p.parse_args()
    if args.worker == "ours":
        return ours_worker(args)
    if args.worker == "torch":
        return torch_worker(args)

    folder = tempfile.mkdtemp(prefix="bench_distributed_")
    print(f"preparing the CNN in {folder} ...", file=sys.stderr)
    data, values = prepare(folder)
    common = ("--steps", args.steps, "--repeat", args.repeat, "--values",
              values, "--data", data, "--workdir", folder)
    rows = [
        ("ours", "1 process, batch 128 (@train_step)", 1, 2,
         ("--worker", "ours", "--model", f"{folder}/cnn128.mlir", *common)),
        ("ours", "1 process, 2 x 64 accumulated", 1, 2,
         ("--worker", "ours", "--model", f"{folder}/cnn64.mlir",
          "--accumulate", 2, *common)),
        ("ours", "2 ranks x 64 (one 4 MiB bucket)", 2, 1,
         ("--worker", "ours", "--model", f"{folder}/cnn64.mlir", *common)),
        ("ours", "2 ranks x 64, 16 KiB buckets", 2, 1,
         ("--worker", "ours", "--model", f"{folder}/cnn64.mlir",
          "--bucket-mb", 1 / 64, *common)),
        ("ours", "2 ranks x 64, --deterministic", 2, 1,
         ("--worker", "ours", "--model", f"{folder}/cnn64.mlir",
          "--deterministic", *common)),
        ("PyTorch", "1 process, batch 128 (eager QAT)", 1, 2,
         ("--worker", "torch", "--steps", args.steps, "--repeat",
          args.repeat)),
        ("PyTorch", "DDP gloo, 2 ranks x 64", 2, 1,
         ("--worker", "torch", "--steps", args.steps, "--repeat",
          args.repeat)),
    ]
    from common import machine_peak
    # The fp32 FMA peak on both cores, measured now (bench/peak.c): the
    # denominator of the last column.
    fma_peak = (machine_peak(2) or (0.0, float("nan")))[1]
    print(f"CNN QAT (int8 LSQ), global batch 128, {args.steps} steps x "
          f"{args.repeat}, medians; 2 cores; FMA peak {fma_peak:.0f} GFLOP/s")
    header = (f"{'engine':8} {'configuration':36} {'ms/global batch':>16} "
              f"{'vs 1 process':>12} {'all-reduce':>10} {'GFLOP/s':>8} "
              f"{'% FMA peak':>10}")
    print(header)
    print("-" * len(header))
    single = {}
    for engine, label, ranks, threads, worker_args in rows:
        result = launch(ranks, threads, *worker_args)
        step = result["step"]
        single.setdefault(engine, step)
        share = ("-" if result["reduce"] is None
                 else f"{100 * result['reduce'] / step:.1f}%")
        gflops = 128 * STEP_FLOPS_PER_SAMPLE / step / 1e9
        print(f"{engine:8} {label:36} {1e3 * step:16.2f} "
              f"{step / single[engine]:11.2f}x {share:>10} {gflops:8.1f} "
              f"{100 * gflops / fma_peak:9.1f}%", flush=True)


if __name__ == "__main__":
    main()
