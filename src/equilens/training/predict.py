"""Batched inference without gradients: energies and latents of a whole data set."""

from __future__ import annotations

import numpy as np
import torch

from equilens.data import GraphDataset, keys, to_device


@torch.no_grad()
def predict(model: torch.nn.Module, dataset: GraphDataset, batch_size: int = 100,
            device: torch.device | str = "cpu") -> dict[str, np.ndarray]:
    """Predicted ENERGY (n_frames,) kcal/mol and LATENT (n_frames, latent_dim) of every frame."""
    was_training = model.training
    model.eval()
    energies, latents = [], []
    for batch in dataset.batches(batch_size):
        out = model(to_device(batch, device))
        energies.append(out[keys.ENERGY].double().cpu())
        latents.append(out[keys.LATENT].double().cpu())
    model.train(was_training)
    return {keys.ENERGY: torch.cat(energies).numpy(), keys.LATENT: torch.cat(latents).numpy()}


def energy_errors(predicted: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """MAE and RMSE in kcal/mol and meV."""
    from equilens.data.units import KCAL_MOL_TO_MEV

    err = np.asarray(predicted) - np.asarray(target)
    mae, rmse = float(np.abs(err).mean()), float(np.sqrt((err**2).mean()))
    return {"energy_mae_kcal": mae, "energy_rmse_kcal": rmse,
            "energy_mae_mev": mae * KCAL_MOL_TO_MEV, "energy_rmse_mev": rmse * KCAL_MOL_TO_MEV}
