"""Unit-second-moment constants of activations, as e3nn computes them, once per process."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import torch
from e3nn.math import normalize2mom

__all__ = ["second_moment_scale"]


@cache
def second_moment_scale(f: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """``e3nn.math.normalize2mom(f).cst``: 1/√E[f(z)²] for z ~ N(0, 1), from e3nn's 10⁶
    seeded samples (so the same float as e3nn's modules use).

    Cached by function: each evaluation holds about 26 MB of float64 temporaries, and a
    model with several gates would otherwise repeat it per layer (and the allocator keeps
    much of that memory for the rest of the process).
    """
    return normalize2mom(f).cst
