"""Energies and forces F = −∂E/∂r of any model, by automatic differentiation."""

from __future__ import annotations

import torch

from equilens.data import keys


def energy_and_forces(model: torch.nn.Module, batch: dict[str, torch.Tensor], *,
                      forces: bool = True, training: bool = False) -> dict[str, torch.Tensor]:
    """The model's outputs, with FORCES (n_atoms, 3) kcal/mol/Å added when ``forces``.

    ``training=True`` keeps the graph of the derivative so that a loss on the forces can
    be back-propagated to the weights (double backward); otherwise the forces are
    detached. Works with or without ``torch.no_grad`` around it for the weights.
    """
    if not forces:
        return model(batch)
    with torch.enable_grad():
        positions = batch[keys.POSITIONS].detach().requires_grad_(True)
        out = model({**batch, keys.POSITIONS: positions})
        (grad,) = torch.autograd.grad(out[keys.ENERGY].sum(), positions,
                                      create_graph=training)
    out[keys.FORCES] = -grad.to(positions.dtype)
    if not training:
        out = {k: (v.detach() if isinstance(v, torch.Tensor) else v) for k, v in out.items()}
    return out
