"""Batched evaluation of an external model on many frames, one thread by default.

``Evaluation(model, frames)`` is an iterable of :class:`Prediction`, one per batch, with a
length, so that a progress bar can wrap it (``tqdm(Evaluation(...))``);
:meth:`Evaluation.collect` joins them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from equilens.data import keys
from equilens.errors import ConfigError
from equilens.models.external.inputs import as_batch, frame_range
from equilens.models.forces import energy_and_forces


@dataclass
class Prediction:
    """Outputs on consecutive frames ``start .. start + len(energy) - 1`` of the input.

    Attributes:
        start: index of the first frame in the input.
        energy: (n_frames,) float64, kcal/mol.
        forces: (n_atoms, 3) float64, kcal/mol/Å, or None when not asked for.
        latent: (n_frames, d) float64, the pooled invariant features (see ExternalModel).
        features: per layer (n_atoms, irreps.dim) float64, or None when not asked for.
        n_atoms: (n_frames,) int64.
        seconds: wall time of the batch.
    """

    start: int
    energy: np.ndarray
    forces: np.ndarray | None
    latent: np.ndarray
    features: list[np.ndarray] | None
    n_atoms: np.ndarray
    seconds: float


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads, restored afterwards."""
    if n < 1:
        raise ConfigError(f"threads must be >= 1, got {n}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().double().numpy()


class Evaluation:
    """Energies, forces, latents (and features) of ``frames``, ``batch_size`` frames at a time.

    Args:
        model: an ExternalModel (or any equilens model that takes these batches).
        frames: ASE Atoms, a list of them, :class:`~equilens.data.Frames` or a batch dict.
        batch_size: frames per forward pass.
        forces: also compute forces (one backward pass per batch).
        features: also return the per-layer features (large: n_atoms x dim per layer).
        threads: torch intra-op threads while iterating (default 1).
    """

    def __init__(self, model: torch.nn.Module, frames: Any, *, batch_size: int = 8,
                 forces: bool = True, features: bool = False, threads: int = 1):
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.model, self.batch = model, as_batch(frames)
        self.batch_size, self.forces, self.features, self.threads = (
            batch_size, forces, features, threads)
        self.n_frames = int(self.batch[keys.N_ATOMS].shape[0])

    def __len__(self) -> int:
        return math.ceil(self.n_frames / self.batch_size)

    def __iter__(self) -> Iterator[Prediction]:
        with torch_threads(self.threads):
            for start in range(0, self.n_frames, self.batch_size):
                stop = min(start + self.batch_size, self.n_frames)
                part = frame_range(self.batch, start, stop)
                tic = time.perf_counter()
                with torch.no_grad():
                    out = energy_and_forces(self.model, part, forces=self.forces)
                seconds = time.perf_counter() - tic
                yield Prediction(
                    start, _numpy(out[keys.ENERGY]),
                    _numpy(out[keys.FORCES]) if self.forces else None,
                    _numpy(out[keys.LATENT]),
                    [_numpy(h) for h in out[keys.NODE_FEATURES]] if self.features else None,
                    part[keys.N_ATOMS].numpy(), seconds)

    def collect(self) -> Prediction:
        """Every batch joined into one Prediction (start 0; seconds summed)."""
        parts = list(self)
        joined = (lambda name: None if getattr(parts[0], name) is None
                  else np.concatenate([getattr(p, name) for p in parts]))
        features = None if not self.features else [
            np.concatenate([p.features[k] for p in parts]) for k in range(len(parts[0].features))]
        return Prediction(0, joined("energy"), joined("forces"), joined("latent"), features,
                          joined("n_atoms"), sum(p.seconds for p in parts))


def evaluate(model: torch.nn.Module, frames: Any, **options: Any) -> Evaluation:
    """``Evaluation(model, frames, **options)``: iterate it for batches, or ``.collect()``."""
    return Evaluation(model, frames, **options)


def time_per_frame(model: torch.nn.Module, frames: Any, *, forces: bool = True,
                   threads: int = 1, warmup: int = 2) -> float:
    """Median wall time of one frame's energy (and forces), in ms, frames taken one by one.

    The first ``warmup`` frames are evaluated first and not counted.
    """
    batch = as_batch(frames)
    evaluation = Evaluation(model, batch, batch_size=1, forces=forces, threads=threads)
    if evaluation.n_frames <= warmup:
        raise ConfigError(f"time_per_frame needs more than {warmup} frames, got {evaluation.n_frames}")
    times = [p.seconds for p in evaluation]
    return 1000.0 * float(np.median(times[warmup:]))
