"""Batched inference without gradients: energies and latents of a whole data set."""

from __future__ import annotations

import numpy as np
import torch

from equilens.data import GraphDataset, keys, to_device
from equilens.data.units import KCAL_MOL_TO_MEV
from equilens.models import energy_and_forces
from equilens.models.compiled import CompiledEGNN


@torch.no_grad()
def predict(model: torch.nn.Module, dataset: GraphDataset, batch_size: int = 100,
            device: torch.device | str = "cpu", forces: bool = False,
            edge_features: dict[str, torch.Tensor] | None = None,
            atomic: bool = False, stress: bool = False,
            compiled: CompiledEGNN | None = None) -> dict[str, np.ndarray]:
    """Predictions for every frame of ``dataset``, in batches, weights without gradients.

    Returns ENERGY (n_frames,) kcal/mol, LATENT (n_frames, latent_dim) and, with
    ``forces``, FORCES (n_atoms_total, 3) kcal/mol/Å; with ``atomic``, ATOMIC_ENERGY
    (n_atoms_total,) kcal/mol, the per-atom terms of the energy; with ``stress``, STRESS
    (n_frames, 3, 3) kcal/mol/Å³ (periodic frames only). ``edge_features``: per-edge
    tensors of the whole data set added to every batch (see ``GraphDataset.batches``).
    ``compiled``: a :class:`~equilens.models.compiled.CompiledEGNN` of ``model`` that
    runs the batches (not for the stress).
    """
    was_training = model.training
    model.eval()
    wanted = ((keys.ENERGY, keys.LATENT) + ((keys.FORCES,) if forces else ())
              + ((keys.ATOMIC_ENERGY,) if atomic else ()) + ((keys.STRESS,) if stress else ()))
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in wanted}
    for batch in dataset.batches(batch_size, edge_features=edge_features):
        batch = to_device(batch, device)
        if compiled is not None and not stress:
            out = compiled(batch, forces=forces)
        else:
            out = energy_and_forces(model, batch, forces=forces, stress=stress)
        for k in wanted:
            parts[k].append(out[k].double().cpu())
    model.train(was_training)
    return {k: torch.cat(v).numpy() for k, v in parts.items()}


def errors(predicted: np.ndarray, target: np.ndarray, what: str = "energy") -> dict[str, float]:
    """MAE and RMSE in kcal/mol (/Å) and meV (/Å): keys ``<what>_mae_kcal`` etc.

    For forces the error is taken over every atom and Cartesian component.
    """
    err = np.asarray(predicted) - np.asarray(target)
    mae, rmse = float(np.abs(err).mean()), float(np.sqrt((err**2).mean()))
    return {f"{what}_mae_kcal": mae, f"{what}_rmse_kcal": rmse,
            f"{what}_mae_mev": mae * KCAL_MOL_TO_MEV, f"{what}_rmse_mev": rmse * KCAL_MOL_TO_MEV}


def energy_errors(predicted: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """MAE and RMSE of energies in kcal/mol and meV."""
    return errors(predicted, target, "energy")
