"""The device a benchmark runs on: ``cpu``, ``cuda``, or ``auto`` (CUDA when torch sees a
device, else the CPU). Asking for ``cuda`` where there is none is a one-line error, never
a silent fall back to the CPU (a number measured on the CPU must not pass for a GPU one)."""

from __future__ import annotations

import torch

from equilens.errors import ConfigError, EquilensError
from equilens.training.experiment import resolve_device

CHOICES = ("cpu", "cuda", "auto")


def select(name: str) -> torch.device:
    """The device ``name`` stands for; ConfigError if it is unknown or unavailable."""
    if name not in CHOICES:
        raise ConfigError(f"device '{name}' is not one of {', '.join(CHOICES)}")
    return resolve_device(name)


def select_or_exit(script: str, name: str) -> torch.device:
    """:func:`select`, or exit with ``<script>: <the problem>`` (one line, no traceback)."""
    try:
        return select(name)
    except EquilensError as err:
        raise SystemExit(f"{script}: {err}") from None


def describe(device: torch.device) -> str:
    """``cpu`` or ``cuda:<index> (<GPU name>)`` for a report."""
    if device.type != "cuda":
        return device.type
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
