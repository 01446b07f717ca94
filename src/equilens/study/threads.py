"""Thread budgets: each worker uses exactly its share of the cores.

On a small shared machine, BLAS or OpenMP pools larger than a worker's share make small
linear algebra tens of times slower (threads spin waiting for each other). A worker
therefore sets the usual environment variables, limits the pools already loaded
(threadpoolctl) and torch's intra-op threads to its budget.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
_LIMITS = []  # keeps the threadpoolctl limiter alive


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_threads(workers: int, cores: int | None = None) -> int:
    """cores // workers, at least 1."""
    return max(1, (cores or available_cores()) // max(1, workers))


@contextmanager
def thread_env(threads: int) -> Iterator[None]:
    """Set the thread variables for child processes started inside the block."""
    saved = {var: os.environ.get(var) for var in THREAD_VARS}
    os.environ.update({var: str(threads) for var in THREAD_VARS})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def configure_threads(threads: int) -> None:
    """Limit this process to ``threads`` threads (torch, BLAS, OpenMP)."""
    threads = max(1, int(threads))
    os.environ.update({var: str(threads) for var in THREAD_VARS})
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only possible before the first parallel work; fine afterwards
        pass
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # comes with scikit-learn; tolerate its absence
        return
    _LIMITS[:] = [threadpool_limits(limits=threads)]
