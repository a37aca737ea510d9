"""Data-parallel training over MPI (Open MPI through mpi4py).

    mpirun -np 4 python3 -m qat train model.qat.mlir --values v.npz \\
        --distributed -o trained.npz

Every rank holds the whole model and the same values. Each global batch is
split into disjoint shards, one per rank (and per accumulated micro-batch);
each rank computes its shard's gradients with the compiled @gradients (with
ema observers, @train_gradients), the gradients are summed across ranks with
MPI_Allreduce and averaged, and every rank applies the same compiled
@apply_update. The ranks therefore hold bit-identical values after every
step. docs/Distributed.md states the contract and the scaling model.

This module is the only place that speaks MPI. `Single()` is the one-process
communicator, so the training loop has one code path; `World()` wraps
mpi4py's COMM_WORLD. mpi4py is imported only when a World is made.
"""

import os
from typing import Dict, List, Sequence

import numpy as np

#: Gradients are reduced in buckets of about this many bytes, last layer
#: first (the order backpropagation produces them), each with a
#: non-blocking all-reduce: a bucket is on the wire while the next one is
#: packed.
DEFAULT_BUCKET_BYTES = 4 << 20

#: The observers' state names: what reduce_ranges reduces.
RANGE_KINDS = ("act_min:", "act_max:")


class Single:
    """One process: every reduction is the identity."""

    rank = 0
    size = 1

    def allreduce_sum(self, buffers: List[np.ndarray],
                      deterministic: bool = False) -> List[np.ndarray]:
        return buffers

    def reduce_ranges(self, state: Dict[str, np.ndarray]) -> None:
        pass

    def sum_scalar(self, value: float) -> float:
        return value

    def broadcast(self, value):
        return value

    def barrier(self) -> None:
        pass

    def abort(self, code: int = 1) -> None:
        raise SystemExit(code)


class World:
    """All the ranks of an `mpirun` job (MPI_COMM_WORLD)."""

    def __init__(self, bucket_bytes: int = DEFAULT_BUCKET_BYTES):
        try:
            from mpi4py import MPI
        except ImportError:
            raise RuntimeError("--distributed needs mpi4py (Debian's "
                               "python3-mpi4py; scripts/setup.sh installs "
                               "it)") from None
        self._mpi = MPI
        self.comm = MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.bucket_bytes = bucket_bytes
        #: Seconds spent in gradient reductions (the bench's all-reduce
        #: share).
        self.reduce_seconds = 0.0

    def allreduce_sum(self, buffers: List[np.ndarray],
                      deterministic: bool = False) -> List[np.ndarray]:
        """The element-wise sum over the ranks of each float32 array in
        `buffers` (every rank passes arrays of the same shapes, in the same
        order). Buffers are packed into buckets, last first, and reduced
        with non-blocking all-reduces. `deterministic` sums in rank order
        (0 + 1 + 2 ...) after an all-gather, so the result does not depend
        on MPI's reduction tree: the same bits as one process summing the
        same shards in that order."""
        import time
        start = time.perf_counter()
        buckets = _buckets([b.size for b in buffers], self.bucket_bytes)
        flat_out = [None] * len(buffers)
        pending = []
        for members in reversed(buckets):
            packed = np.concatenate([buffers[i].ravel() for i in members]
                                    ).astype(np.float32, copy=False)
            if deterministic:
                gathered = np.empty((self.size, packed.size), np.float32)
                request = self.comm.Iallgather(packed, gathered)
                pending.append((request, members, gathered))
            else:
                request = self.comm.Iallreduce(self._mpi.IN_PLACE, packed,
                                               op=self._mpi.SUM)
                pending.append((request, members, packed))
        for request, members, data in pending:
            request.Wait()
            if deterministic:
                data = sum_in_order([[row] for row in data])[0]
            offset = 0
            for i in members:
                n = buffers[i].size
                flat_out[i] = data[offset:offset + n].reshape(buffers[i].shape)
                offset += n
        self.reduce_seconds += time.perf_counter() - start
        return flat_out

    def reduce_ranges(self, state: Dict[str, np.ndarray]) -> None:
        """The observers of `state` (`act_min:*`, `act_max:*`), in place:
        the minimum of the minima and the maximum of the maxima over the
        ranks. Min and max are exact, so this is the range one process
        would observe on all the ranks' data."""
        for name in sorted(k for k in state if k.startswith(RANGE_KINDS)):
            op = (self._mpi.MIN if name.startswith("act_min:")
                  else self._mpi.MAX)
            value = np.array(state[name], np.float32)
            self.comm.Allreduce(self._mpi.IN_PLACE, value, op=op)
            state[name] = value

    def sum_scalar(self, value: float) -> float:
        return float(self.comm.allreduce(float(value), op=self._mpi.SUM))

    def broadcast(self, value):
        """Rank 0's `value` on every rank."""
        return self.comm.bcast(value, root=0)

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        """Stops every rank (MPI_Abort): one rank's error must not leave the
        others waiting in a reduction forever."""
        self.comm.Abort(code)


def _buckets(sizes: Sequence[int], bucket_bytes: int) -> List[List[int]]:
    """Consecutive indices of `sizes` (float32 elements) grouped into
    buckets of at most `bucket_bytes` (a larger array is a bucket of its
    own); 0 puts everything in one bucket."""
    if bucket_bytes <= 0:
        return [list(range(len(sizes)))] if sizes else []
    buckets, current, used = [], [], 0
    for i, n in enumerate(sizes):
        if current and used + 4 * n > bucket_bytes:
            buckets.append(current)
            current, used = [], 0
        current.append(i)
        used += 4 * n
    if current:
        buckets.append(current)
    return buckets


def sum_in_order(shards: List[List[np.ndarray]]) -> List[np.ndarray]:
    """Per position, the float32 sum of the shards' arrays in shard order:
    ((s0 + s1) + s2) + ... This is the one summation order of the
    deterministic mode, in one process (accumulation) and across ranks."""
    total = [np.array(a, np.float32, copy=True) for a in shards[0]]
    for shard in shards[1:]:
        for t, a in zip(total, shard):
            t += a
    return total


def launched_by_mpirun() -> bool:
    """Whether this process was started by mpirun/mpiexec (Open MPI,
    MPICH or Slurm's PMI sets these)."""
    return any(key in os.environ for key in (
        "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"))


def load_program(comm, text_of, directory: str, name: str):
    """The compiled `name` on every rank, compiled once: rank 0 runs
    `text_of()` (the qat-opt pipeline) and qat-compile, and sends the
    library to the other ranks, which write it under
    `directory`/rank<r>/ (ranks may share a file system or not)."""
    from qat import pipeline
    from qat.runtime import Model
    if comm.size == 1:
        return pipeline.load(text_of(), directory, name)
    payload, error = None, None
    if comm.rank == 0:
        try:
            model = pipeline.load(text_of(), directory, name)
            with open(model.path, "rb") as f:
                payload = f.read()
        except Exception as err:  # noqa: BLE001 - sent to the other ranks
            error = err
    payload, message = comm.broadcast(
        (payload, None if error is None else str(error)))
    if error is not None:
        raise error
    if message is not None:
        raise pipeline.ToolError(f"rank 0: {message}")
    if comm.rank == 0:
        return model
    folder = os.path.join(directory, f"rank{comm.rank}")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"lib{name}.so")
    with pipeline.replacing(path, "wb") as f:
        f.write(payload)
    return Model(path, keep_freed_memory=True)
