"""Where the wall time of a run goes, from one torch.profiler recording of it.

Every recorded event has a *self* time: its duration minus that of the events it
contains. Summed over the events of a kind, self times split the profiled wall time
without double counting:

* ``aten``: time inside aten operators (their kernels and the dispatcher around them);
* ``autograd engine``: the backward pass's bookkeeping around the operators of each
  node (``autograd::engine::evaluate_function: …`` and the nodes ``…Backward0``);
* ``optimiser``: ``Optimizer.step``/``zero_grad`` outside their operators (Python);
* ``compiled kernels``: TorchInductor's compiled graphs (``## Call CompiledFxGraph …``)
  outside the aten operators they still call (matmuls): their fused C++ loops;
* ``outside events``: the rest of the wall time, in no recorded event (the model's Python
  code, the training loop, and the profiler's own recording).

Times are host (CPU) times; on CUDA the operators' self time is launch and dispatch
work, and the kernels' own device time is given separately.
"""

from __future__ import annotations

import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from harness.flops import MATMUL
from harness.step import synchronize

US = 1e-6
NODE = re.compile(r"^\w+Backward\d*$")
KINDS = ("aten", "autograd engine", "optimiser", "compiled kernels", "other events")


def event_kind(name: str) -> str:
    """The kind of a profiler event by its name (see the module docstring)."""
    if name.startswith("aten::"):
        return "aten"
    if name.startswith("autograd::") or NODE.match(name):
        return "autograd engine"
    if name.startswith("Optimizer."):
        return "optimiser"
    if name.startswith("## Call CompiledFxGraph"):
        return "compiled kernels"
    return "other events"


def record(run: Callable[[], None], device: torch.device):
    """Profile ``run()``; (the profiler, wall seconds inside the recording)."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        synchronize(device)
        start = time.perf_counter()
        run()
        synchronize(device)
        wall = time.perf_counter() - start
    return prof, wall


def summarise(prof, wall_s: float, steps: int, short_us: float = 10.0, top: int = 10) -> dict:
    """Per-step seconds by kind of event, the ``top`` aten operators by self time (mean
    and median µs per call, device time on CUDA), the aten calls whose self time is under
    ``short_us`` µs (count and time), and the aten self time with every call at its
    operator's median (an estimate that a few preempted calls do not inflate), and the
    self time of the matmul operators (``harness.flops.MATMUL``)."""
    events = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CPU]
    self_s = dict.fromkeys(KINDS, 0.0)
    per_op: dict[str, list[float]] = defaultdict(list)  # self seconds of each call
    device_s: dict[str, float] = defaultdict(float)
    short_calls, short_s, aten_calls = 0, 0.0, 0
    for e in events:
        kind, own = event_kind(e.name), e.self_cpu_time_total * US
        self_s[kind] += own
        if kind != "aten":
            continue
        aten_calls += 1
        per_op[e.name].append(own)
        device_s[e.name] += getattr(e, "self_device_time_total", 0.0) * US
        if own < short_us * US:
            short_calls, short_s = short_calls + 1, short_s + own
    outside = wall_s - sum(self_s.values())
    # robust to a call that was descheduled: every call at its operator's median self time
    at_median = sum(len(calls) * statistics.median(calls) for calls in per_op.values())
    ranked = sorted(per_op.items(), key=lambda kv: -sum(kv[1]))[:top]
    return {
        "steps": steps, "wall_s_per_step": wall_s / steps,
        "self_s_per_step": {k: v / steps for k, v in self_s.items()},
        "outside_events_s_per_step": outside / steps,
        "aten_calls_per_step": aten_calls / steps,
        "aten_s_per_step_at_median": at_median / steps,
        "matmul_s_per_step": sum(sum(calls) for name, calls in per_op.items()
                                 if name.removeprefix("aten::") in MATMUL) / steps,
        "top_ops": [{"name": name, "calls_per_step": len(calls) / steps,
                     "self_s_per_step": sum(calls) / steps,
                     "us_per_call": sum(calls) / len(calls) / US,
                     "median_us_per_call": statistics.median(calls) / US,
                     "device_s_per_step": device_s[name] / steps}
                    for name, calls in ranked],
        "short_us": short_us, "short_calls_per_step": short_calls / steps,
        "short_self_s_per_step": short_s / steps,
    }
