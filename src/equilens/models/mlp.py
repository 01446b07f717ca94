"""`MLP`: a deliberately non-equivariant negative control for the symmetry checks."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import nn

from equilens.data import keys
from equilens.models.readout import model_outputs
from equilens.models.scale_shift import EnergyScaleShift


@dataclass
class MLPConfig:
    """Hyperparameters of :class:`MLP` (model spec keys, e.g. ``mlp:channels=32``)."""

    #: Width of every hidden layer.
    channels: int = 64
    #: Number of hidden layers (Linear + SiLU).
    layers: int = 2


class MLP(nn.Module):
    r"""A per-atom MLP on absolute Cartesian coordinates and one-hot species.

    .. math:: \varepsilon_i = \mathrm{head}(\mathrm{MLP}([x_i, y_i, z_i, \mathrm{onehot}(Z_i)])),
              \qquad E = \mathrm{scale} \sum_i \varepsilon_i + \sum_i \mathrm{shift}[Z_i].

    Atoms do not interact and the coordinates are taken relative to the origin of the
    data's frame, so the energy is neither rotation- nor translation-invariant: it is
    the control that the symmetry checks must reject. Being a sum over atoms of a
    function of each atom alone, it is permutation-invariant (forces are
    permutation-equivariant). ``cutoff`` and ``avg_neighbours`` are accepted for a
    common constructor and unused; the neighbour graph is ignored.

    Shapes:
        input: the batch keys POSITIONS (n_atoms, 3) Å, ATOM_TYPES (n_atoms,),
        BATCH (n_atoms,), N_ATOMS (n_frames,);
        output: ENERGY (n_frames,) float64 kcal/mol, ATOMIC_ENERGY (n_atoms,),
        LATENT (n_frames, channels), NODE_FEATURES (list over hidden layers of
        (n_atoms, channels)); the last two in eval mode only (see
        ``readout.analysis_outputs``).
    """

    def __init__(self, config: MLPConfig, n_types: int, cutoff: float, avg_neighbours: float):
        super().__init__()
        self.config = config
        self.n_types = n_types
        dims = [3 + n_types] + [config.channels] * config.layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(dims))
        self.head = nn.Linear(config.channels, 1)
        self.scale_shift = EnergyScaleShift(n_types)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pos = batch[keys.POSITIONS]
        types = batch[keys.ATOM_TYPES]
        x = torch.cat([pos, nn.functional.one_hot(types, self.n_types).to(pos.dtype)], dim=-1)
        features = []
        for layer in self.hidden:
            x = nn.functional.silu(layer(x))
            features.append(x)
        atomic = self.scale_shift(self.head(x).squeeze(-1), types)
        return model_outputs(self, batch, atomic, x, features)
