"""`EGNN`: the study's E(3)-equivariant network (NequIP-style, built with e3nn)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from e3nn import o3
from torch import nn

from equilens.data import keys
from equilens.models.interaction import Interaction
from equilens.models.radial import RadialEmbedding
from equilens.models.readout import frame_outputs
from equilens.models.scale_shift import EnergyScaleShift


@dataclass
class EGNNConfig:
    """Hyperparameters of :class:`EGNN` (model spec keys, e.g. ``egnn:l_max=0``)."""

    #: Highest rotation order of the features and edge spherical harmonics; 0 makes the
    #: network invariant (scalars only) with otherwise the same architecture.
    l_max: int = 1
    #: Multiplicity of every irrep of the hidden features (``channels x 0e + channels x 1o + ...``).
    channels: int = 32
    #: Number of interaction layers.
    layers: int = 3
    #: Number of Bessel radial basis functions.
    num_basis: int = 8
    #: Width of the two hidden layers of the radial MLP.
    radial_hidden: int = 64
    #: Order p of the polynomial cutoff envelope.
    cutoff_p: int = 6


def hidden_irreps(channels: int, l_max: int) -> o3.Irreps:
    """``channels x 0e + channels x 1o + channels x 2e + ...`` up to ``l_max`` (parity (-1)^l)."""
    return o3.Irreps([(channels, (l, (-1) ** l)) for l in range(l_max + 1)])


class EGNN(nn.Module):
    """E(3)-equivariant message passing; energy is a sum of per-atom scalars.

    Pipeline: one-hot species → ``channels x 0e`` → ``layers`` interactions with hidden
    irreps ``hidden_irreps(channels, l_max)`` (the last one scalars only) → per-atom
    energy by a linear head → scale/shift → sum per frame. The graph latent is the mean
    over atoms of the last layer's ``channels x 0e`` features.

    forward(batch) → dict with ENERGY (n_frames,) kcal/mol, ATOMIC_ENERGY (n_atoms,),
    LATENT (n_frames, channels) and NODE_FEATURES (list over layers, irreps in
    ``layer_irreps``).
    """

    def __init__(self, config: EGNNConfig, n_types: int, cutoff: float, avg_neighbours: float):
        super().__init__()
        self.config = config
        c = config
        self.n_types = n_types
        self.irreps_sh = o3.Irreps.spherical_harmonics(c.l_max)
        self.radial = RadialEmbedding(cutoff, c.num_basis, c.cutoff_p)
        self.embed = o3.Linear(f"{n_types}x0e", f"{c.channels}x0e")
        irreps = o3.Irreps(f"{c.channels}x0e")
        layers = []
        for k in range(c.layers):
            out = hidden_irreps(c.channels, 0 if k == c.layers - 1 else c.l_max)
            layers.append(Interaction(irreps, out, self.irreps_sh, n_types, c.num_basis,
                                      c.radial_hidden, avg_neighbours))
            irreps = out
        self.interactions = nn.ModuleList(layers)
        self.layer_irreps = [layer.irreps_out for layer in layers]
        self.latent_irreps = irreps
        self.head = nn.Sequential(o3.Linear(irreps, f"{max(c.channels // 2, 1)}x0e"),
                                  o3.Linear(f"{max(c.channels // 2, 1)}x0e", "1x0e"))
        self.scale_shift = EnergyScaleShift(n_types)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pos = batch[keys.POSITIONS]
        types = batch[keys.ATOM_TYPES]
        edge_index = batch[keys.EDGE_INDEX]
        n_frames = batch[keys.N_ATOMS].shape[0]
        vec = pos[edge_index[0]] - pos[edge_index[1]]
        sh = o3.spherical_harmonics(self.irreps_sh, vec, normalize=True, normalization="component")
        radial = self.radial(vec.norm(dim=-1))
        attrs = nn.functional.one_hot(types, self.n_types).to(pos.dtype)
        x = self.embed(attrs)
        features = []
        for layer in self.interactions:
            x = layer(x, attrs, edge_index, sh, radial)
            features.append(x)
        atomic = self.scale_shift(self.head(x).squeeze(-1), types)
        return frame_outputs(batch, atomic, x, n_frames) | {keys.NODE_FEATURES: features}

