"""Readout shared by every model: per-atom values to per-frame values."""

from __future__ import annotations

import torch

from equilens.data import keys


def frame_outputs(batch: dict[str, torch.Tensor], atomic: torch.Tensor,
                  node_latent: torch.Tensor | None, n_frames: int) -> dict[str, torch.Tensor]:
    """Sum per-atom energies and mean-pool per-atom latents (if given) to frames."""
    index = batch[keys.BATCH]
    energy = torch.zeros(n_frames, dtype=atomic.dtype, device=atomic.device)
    energy.index_add_(0, index, atomic)
    out = {keys.ENERGY: energy, keys.ATOMIC_ENERGY: atomic}
    if node_latent is not None:
        latent = torch.zeros(n_frames, node_latent.shape[1], dtype=node_latent.dtype,
                             device=node_latent.device)
        latent.index_add_(0, index, node_latent)
        out[keys.LATENT] = latent / batch[keys.N_ATOMS].unsqueeze(-1).to(latent.dtype)
    return out


def analysis_outputs(model: torch.nn.Module) -> bool:
    """Whether a forward pass returns LATENT and NODE_FEATURES: in eval mode only.

    A model in training mode returns what a loss reads (energies, per-atom energies);
    the latents, read by analysis and symmetry checks, cost operators every step.
    """
    return not model.training


def model_outputs(model: torch.nn.Module, batch: dict[str, torch.Tensor], atomic: torch.Tensor,
                  node_latent: torch.Tensor, features: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """:func:`frame_outputs`, plus LATENT and NODE_FEATURES when :func:`analysis_outputs`."""
    n_frames = batch[keys.N_ATOMS].shape[0]
    if not analysis_outputs(model):
        return frame_outputs(batch, atomic, None, n_frames)
    return frame_outputs(batch, atomic, node_latent, n_frames) | {keys.NODE_FEATURES: features}
