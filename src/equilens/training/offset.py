"""The energy offset of a pretrained model: what its DFT reference differs from the data's by.

A pretrained model predicts energies on its own code's DFT level and reference; the data
has another. On frames of one composition (an rMD17 molecule) the difference is one
constant, the mean over the training frames of true minus predicted energy. On frames of
several compositions (a file of several molecules, a bulk with its surfaces) it grows with
the atoms of each element, so it is one reference energy per element, fitted by least
squares on the element counts of the training frames (as the mean-predictor floor is,
:func:`~equilens.training.baselines.mean_predictor`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from equilens.data import Frames, keys
from equilens.training.baselines import element_counts


@dataclass(frozen=True)
class EnergyOffset:
    """What is added to a pretrained model's energy, kcal/mol.

    Attributes:
        constant: the offset of every frame when ``per_element`` is None; otherwise the mean
            offset over the training frames (for the record only).
        per_element: atomic number -> reference energy (kcal/mol per atom), or None.
    """

    constant: float
    per_element: dict[int, float] | None = None

    @classmethod
    def fit(cls, train: Frames, predicted: np.ndarray) -> EnergyOffset:
        """Fit on the training frames and the model's (n_frames,) predictions, kcal/mol."""
        residual = train.energy - np.asarray(predicted, dtype=np.float64)
        elements = np.unique(train.numbers)
        counts = element_counts(train, elements)
        if len(np.unique(counts, axis=0)) == 1:
            return cls(float(residual.mean()))
        weights, *_ = np.linalg.lstsq(counts, residual, rcond=None)
        return cls(float((counts @ weights).mean()),
                   {int(z): float(w) for z, w in zip(elements, weights)})

    def of_frames(self, frames: Frames) -> np.ndarray:
        """(n_frames,) the offset of each frame, kcal/mol."""
        if self.per_element is None:
            return np.full(len(frames), self.constant)
        frame_of_atom = np.repeat(np.arange(len(frames)), frames.n_atoms)
        per_atom = np.array([self._reference(int(z)) for z in frames.numbers])
        return np.bincount(frame_of_atom, weights=per_atom, minlength=len(frames))

    def of_batch(self, batch: dict[str, torch.Tensor], energy: torch.Tensor) -> torch.Tensor:
        """(n_frames,) the offset of each frame of a batch, as ``energy``'s dtype and device."""
        if self.per_element is None:
            return torch.full_like(energy, self.constant)
        numbers = batch[keys.ATOMIC_NUMBERS].tolist()
        per_atom = torch.tensor([self._reference(z) for z in numbers], dtype=energy.dtype,
                                device=energy.device)
        return torch.zeros_like(energy).index_add_(0, batch[keys.BATCH], per_atom)

    def _reference(self, z: int) -> float:
        try:
            return self.per_element[z]
        except KeyError:
            from equilens.errors import DataError
            raise DataError(f"element Z={z} has no fitted energy reference: the training frames "
                            f"have only Z={sorted(self.per_element)}") from None

    def to_json(self) -> dict:
        """``energy_offset_kcal`` and ``energy_offset_per_element_kcal`` (str(Z) keys or None)."""
        per = None if self.per_element is None else {str(z): w for z, w in self.per_element.items()}
        return {"energy_offset_kcal": self.constant, "energy_offset_per_element_kcal": per}

    @classmethod
    def from_json(cls, info: dict) -> EnergyOffset:
        """The inverse of :meth:`to_json` (KeyError/TypeError/ValueError on a bad record)."""
        per = info.get("energy_offset_per_element_kcal")
        return cls(float(info["energy_offset_kcal"]),
                   None if per is None else {int(z): float(w) for z, w in per.items()})
