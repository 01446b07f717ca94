"""Energies, forces F = −∂E/∂r and stresses (1/V) ∂E/∂ε of any model, by autograd."""

from __future__ import annotations

import torch

from equilens.data import keys
from equilens.errors import DataError


def _strained(batch: dict[str, torch.Tensor], positions: torch.Tensor
              ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The batch under a zero symmetric strain ε (n_frames, 3, 3) that autograd can follow.

    Positions r → r (1 + ε) and cell rows a → a (1 + ε), frame by frame (the virial
    approach of NequIP and MACE): ∂E/∂ε at ε = 0 is then the derivative of the energy
    under a homogeneous deformation of the whole periodic system.
    """
    if keys.CELL not in batch:
        raise DataError("a stress needs periodic frames with a cell; these frames have none")
    cell = batch[keys.CELL].to(positions.dtype)
    strain = torch.zeros_like(cell, requires_grad=True)
    sym = 0.5 * (strain + strain.transpose(1, 2))
    per_atom = sym.index_select(0, batch[keys.BATCH])
    strained = {**batch,
                keys.POSITIONS: positions + torch.einsum("ai,aij->aj", positions, per_atom),
                keys.CELL: cell + torch.bmm(cell, sym)}
    return strained, strain


def energy_and_forces(model: torch.nn.Module, batch: dict[str, torch.Tensor], *,
                      forces: bool = True, training: bool = False,
                      stress: bool = False) -> dict[str, torch.Tensor]:
    """The model's outputs, with FORCES (n_atoms, 3) kcal/mol/Å added when ``forces``
    and STRESS (n_frames, 3, 3) kcal/mol/Å³ when ``stress``.

    The stress is (1/V) ∂E/∂ε at zero strain, V = |det(cell)| in Å³: ASE's convention
    (positive under tension, ``ase.stress`` and ``calculate_numerical_stress``); it
    needs CELL in the batch (periodic frames), else a DataError.

    ``training=True`` keeps the graph of the derivative so that a loss on the forces
    (or stress) can be back-propagated to the weights (double backward); otherwise they
    are detached. Works with or without ``torch.no_grad`` around it for the weights.
    """
    if not forces and not stress:
        return model(batch)
    with torch.enable_grad():
        positions = batch[keys.POSITIONS].detach().requires_grad_(True)
        inputs, strain = (_strained(batch, positions) if stress
                          else ({**batch, keys.POSITIONS: positions}, None))
        out = model(inputs)
        wrt = [positions] + ([strain] if stress else [])
        grads = torch.autograd.grad(out[keys.ENERGY].sum(), wrt, create_graph=training)
    if forces:
        out[keys.FORCES] = -grads[0].to(positions.dtype)
    if stress:
        volume = torch.linalg.det(batch[keys.CELL].to(positions.dtype)).abs()
        out[keys.STRESS] = grads[1].to(positions.dtype) / volume[:, None, None]
    if not training:
        out = {k: (v.detach() if isinstance(v, torch.Tensor) else v) for k, v in out.items()}
    return out
