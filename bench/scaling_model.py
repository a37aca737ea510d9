#!/usr/bin/python3
"""The step-time model of docs/Distributed.md: data-parallel QAT of a
ResNet-50-sized network at 8, 64 and 512 ranks.

    /usr/bin/python3 bench/scaling_model.py [--gflops 16.1] [--batch 32]

compute per rank  = batch x FLOPs per sample / sustained FLOP/s of a rank
                    (--gflops: what bench_distributed.py measured for one
                    2-core rank training the CNN)
all-reduce        = 2 (N - 1) / N x gradient bytes / bandwidth
                    + 2 (N - 1) x per-message latency      (ring all-reduce)
step (no overlap) = compute + all-reduce
efficiency        = compute / step
Prints one row per (ranks, network) pair. A model, not a measurement: its
inputs are stated in the header it prints.
"""

import argparse

#: ResNet-50: 25.6M parameters (fp32 gradients, plus about 26.5K LSQ
#: scales), 4.1 GMAC per 224x224 image forward; a training step is about 3x
#: the forward.
PARAMETERS = 25.6e6 + 26.5e3
FLOPS_PER_SAMPLE = 3 * 2 * 4.1e9

#: (name, bandwidth in bytes/s, latency per message in seconds)
NETWORKS = [("10 GbE (TCP)", 1.25e9, 25e-6),
            ("100 Gb/s InfiniBand", 12.5e9, 2e-6),
            ("400 Gb/s InfiniBand", 50e9, 2e-6)]


def allreduce_seconds(ranks, nbytes, bandwidth, latency):
    return (2 * (ranks - 1) / ranks * nbytes / bandwidth +
            2 * (ranks - 1) * latency)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gflops", type=float, default=16.1,
                   help="sustained training GFLOP/s of one rank")
    p.add_argument("--batch", type=int, default=32, help="samples per rank")
    p.add_argument("--gradient-bits", type=int, default=32,
                   help="bits per gradient element on the wire")
    args = p.parse_args()
    nbytes = PARAMETERS * args.gradient_bits / 8
    compute = args.batch * FLOPS_PER_SAMPLE / (args.gflops * 1e9)
    print(f"ResNet-50-sized QAT: {PARAMETERS / 1e6:.1f}M trained values, "
          f"{nbytes / 1e6:.1f} MB of gradients per step, {args.batch} "
          f"samples per rank at {args.gflops:g} GFLOP/s: compute "
          f"{compute * 1e3:,.0f} ms per step")
    print(f"{'ranks':>5} {'network':22} {'all-reduce ms':>13} "
          f"{'step ms':>10} {'efficiency':>10} {'global batch':>12}")
    for ranks in (8, 64, 512):
        for name, bandwidth, latency in NETWORKS:
            comm = allreduce_seconds(ranks, nbytes, bandwidth, latency)
            step = compute + comm
            print(f"{ranks:5} {name:22} {comm * 1e3:13.1f} "
                  f"{step * 1e3:10,.0f} {100 * compute / step:9.1f}% "
                  f"{ranks * args.batch:12,}")


if __name__ == "__main__":
    main()
