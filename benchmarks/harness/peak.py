"""What the machine can do on the threads of a benchmark: dense matmul FLOP/s, memory
bandwidth, and the time of one tiny operator call.

Each is measured with torch on the benchmark's device (CPU or CUDA, the device
synchronised before every clock reading), after a warm-up, ``repeats`` times; the best
repeat is the machine's capability (interference from other processes only slows a
repeat down), the median is reported beside it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from harness.step import synchronize

MIB = 2**20


def _timed(fn: Callable[[], None], device: torch.device, repeats: int, warmup: int = 2) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def _rates(work: float, times: list[float], unit: str) -> dict[str, float | list[float]]:
    return {"times_s": times, f"best_{unit}": work / min(times),
            f"median_{unit}": work / statistics.median(times)}


def matmul_peak(device: torch.device, n: int = 2048, repeats: int = 10) -> dict:
    """float32 ``torch.mm`` of two n×n matrices: 2·n³ flops per call, FLOP/s."""
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, generator=g)
    b = torch.randn(n, n, device=device, generator=g)
    c = torch.empty(n, n, device=device)
    times = _timed(lambda: torch.mm(a, b, out=c), device, repeats)
    return {"n": n, "flops_per_call": 2 * n**3, **_rates(2.0 * n**3, times, "flops_per_s")}


def bandwidth(device: torch.device, mib: float = 256.0, repeats: int = 10,
              inner: int = 1) -> dict:
    """Bytes per second of ``dst.copy_(src)`` (read + write) and ``torch.add(a, b, out=c)``
    (2 reads + 1 write) on float32 tensors of ``mib`` MiB each, ``inner`` calls per timing."""
    n = int(mib * MIB) // 4
    a, b = torch.ones(n, device=device), torch.full((n,), 2.0, device=device)
    c = torch.empty(n, device=device)

    def copy() -> None:
        for _ in range(inner):
            c.copy_(a)

    def add() -> None:
        for _ in range(inner):
            torch.add(a, b, out=c)

    nbytes = 4 * n * inner
    return {"mib": mib, "inner": inner,
            "copy": _rates(2.0 * nbytes, _timed(copy, device, repeats), "bytes_per_s"),
            "add": _rates(3.0 * nbytes, _timed(add, device, repeats), "bytes_per_s")}


def best_bandwidth(measured: dict) -> float:
    """The higher of the copy and add bandwidths (bytes/s)."""
    return max(measured["copy"]["best_bytes_per_s"], measured["add"]["best_bytes_per_s"])


def op_floor(device: torch.device, calls: int = 20000, repeats: int = 5) -> dict:
    """Seconds per call of a tiny operator: ``torch.add`` of two one-element tensors into
    an existing one (a kernel that does almost nothing) and ``x.view(-1)`` (no kernel)."""
    x, y = torch.ones(1, device=device), torch.ones(1, device=device)
    out = torch.empty(1, device=device)

    def add() -> None:
        for _ in range(calls):
            torch.add(x, y, out=out)

    def view() -> None:
        for _ in range(calls):
            x.view(-1)

    return {"calls": calls,
            "add_s": min(_timed(add, device, repeats)) / calls,
            "view_s": min(_timed(view, device, repeats)) / calls}


def machine_peak(device: torch.device, matmul_n: int, bandwidth_mib: float) -> dict:
    """Every capability measurement of this module, on ``device``."""
    return {"device": str(device), "threads": torch.get_num_threads(),
            "matmul": matmul_peak(device, matmul_n),
            "bandwidth": bandwidth(device, bandwidth_mib),
            "bandwidth_in_cache": bandwidth(device, 1.0, inner=50),
            "op_floor": op_floor(device)}
