"""Per-atom energies in normalised units → total energy in kcal/mol."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from equilens.errors import DataError


class EnergyScaleShift(nn.Module):
    """E = scale · Σ_i ε_i + Σ_i shift[type_i].

    ``shift`` (per element, kcal/mol) is a least-squares fit of the training energies on
    the element counts of each frame; ``scale`` (kcal/mol) is the standard deviation of
    what the shift leaves. A network that predicts ε ~ N(0, 1/N) per atom thus works
    in normalised units. Both are buffers: fitted once, saved with the model.

    Total energies of MD17 molecules are ~10⁵ kcal/mol, where float32 resolves only
    ~0.01 kcal/mol; the shift therefore stays float64 whatever dtype the model is cast
    to, and the energies it returns are float64.
    """

    def __init__(self, n_types: int):
        super().__init__()
        self.register_buffer("scale", torch.ones(()))
        self.register_buffer("shift", torch.zeros(n_types, dtype=torch.float64))

    def _apply(self, fn, recurse=True):
        shift = self.shift
        super()._apply(fn, recurse)
        self.shift = shift.to(device=self.scale.device, dtype=torch.float64)
        return self

    @torch.no_grad()
    def fit(self, atom_types: np.ndarray, n_atoms: np.ndarray, energy: np.ndarray,
            forces: np.ndarray | None = None) -> None:
        """Fit shift and scale from training frames (types packed by frame, kcal/mol)."""
        n_types = self.shift.numel()
        frame = np.repeat(np.arange(len(n_atoms)), n_atoms)
        counts = np.zeros((len(n_atoms), n_types))
        np.add.at(counts, (frame, atom_types), 1.0)
        shift, *_ = np.linalg.lstsq(counts, energy, rcond=None)
        residual = energy - counts @ shift
        scale = float(np.std(residual))
        if forces is not None and forces.size:
            scale = float(np.sqrt(np.mean(forces**2)))  # force RMS, as NequIP/MACE do
        if not np.isfinite(scale) or scale < 1e-8:
            raise DataError(
                f"training energies have zero variance (std {scale:.3g} kcal/mol); "
                "nothing to learn, normalisation impossible"
            )
        self.shift.copy_(torch.as_tensor(shift))
        self.scale.fill_(scale)

    def forward(self, per_atom: torch.Tensor, atom_types: torch.Tensor,
                factor: float = 1.0) -> torch.Tensor:
        """(n_atoms,) normalised → (n_atoms,) float64 kcal/mol per-atom energies.

        ``factor``: a constant the per-atom values still lack (a head's normalisation).
        """
        scale = self.scale if factor == 1.0 else self.scale * factor
        return (per_atom * scale).double() + self.shift[atom_types]
