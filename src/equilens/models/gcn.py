"""`GCN`: the study's invariant baseline, graph convolutions weighted by distance."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn

from equilens.data import keys
from equilens.models.readout import model_outputs
from equilens.models.scale_shift import EnergyScaleShift


@dataclass
class GCNConfig:
    """Hyperparameters of :class:`GCN` (model spec keys, e.g. ``gcn:channels=128``)."""

    #: Width of every graph-convolution layer.
    channels: int = 64
    #: Number of graph-convolution layers.
    layers: int = 3


class GCN(nn.Module):
    r"""Kipf & Welling graph convolutions with the interatomic distance as edge weight.

    Each layer is exactly the post's

    .. math:: x'_i = \Theta^\top \sum_{j \in N(i) \cup \{i\}} \frac{e_{ji}}{\sqrt{\hat d_j \hat d_i}} x_j,
              \qquad \hat d_i = 1 + \sum_{j \in N(i)} e_{ji},

    with :math:`e_{ji} = |r_j - r_i|` in Å, self-loops of weight 1 and no bias (PyG's
    ``GCNConv(add_self_loops=True, normalize=True, bias=False)``), followed by SiLU.
    Node features in: one-hot atomic species. Energy: a per-atom MLP head, scaled,
    shifted and summed per frame. Latent: mean over atoms of the last layer's features.

    Shapes:
        input: the batch keys POSITIONS (n_atoms, 3), ATOM_TYPES (n_atoms,),
        EDGE_INDEX (2, n_edges), BATCH (n_atoms,), N_ATOMS (n_frames,);
        output: ENERGY (n_frames,), ATOMIC_ENERGY (n_atoms,), LATENT (n_frames, channels),
        NODE_FEATURES (list over layers of (n_atoms, channels)); the last two in eval
        mode only (see ``readout.analysis_outputs``).
    """

    def __init__(self, config: GCNConfig, n_types: int, cutoff: float, avg_neighbours: float):
        # PyTorch Geometric is imported here, not with the package: a process that only
        # uses the equivariant model does not pay its import time and memory.
        from torch_geometric.nn import GCNConv

        super().__init__()
        self.config = config
        self.n_types = n_types
        dims = [n_types] + [config.channels] * config.layers
        self.convs = nn.ModuleList(
            GCNConv(a, b, add_self_loops=True, normalize=True, bias=False)
            for a, b in itertools.pairwise(dims)
        )
        self.head = nn.Sequential(nn.Linear(config.channels, config.channels), nn.SiLU(),
                                  nn.Linear(config.channels, 1))
        self.scale_shift = EnergyScaleShift(n_types)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        pos = batch[keys.POSITIONS]
        types = batch[keys.ATOM_TYPES]
        edge_index = batch[keys.EDGE_INDEX]
        weight = (pos[edge_index[0]] - pos[edge_index[1]]).norm(dim=-1)
        x = nn.functional.one_hot(types, self.n_types).to(pos.dtype)
        features = []
        for conv in self.convs:
            x = nn.functional.silu(conv(x, edge_index, weight))
            features.append(x)
        atomic = self.scale_shift(self.head(x).squeeze(-1), types)
        return model_outputs(self, batch, atomic, x, features)
