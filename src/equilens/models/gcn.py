"""`GCN`: the study's invariant baseline, graph convolutions weighted by distance."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn

from equilens.data import keys
from equilens.errors import ConfigError
from equilens.models.edges import edge_vectors
from equilens.models.readout import model_outputs
from equilens.models.scale_shift import EnergyScaleShift

#: Allowed values of the string keys of :class:`GCNConfig`.
NORMS = ("none", "layer")
ENVELOPES = ("none", "polynomial")


@dataclass
class GCNConfig:
    """Hyperparameters of :class:`GCN` (model spec keys, e.g. ``gcn:channels=128``).

    The defaults are the post's GCN. ``norm``, ``envelope`` and ``rbf`` each change one
    thing and keep the message-passing formula (``gcn:norm=layer``,
    ``gcn:envelope=polynomial``, ``gcn:rbf=8``).
    """

    #: Width of every graph-convolution layer.
    channels: int = 64
    #: Number of graph-convolution layers.
    layers: int = 3
    #: Normalisation of the features after each convolution, before SiLU: "none" (the
    #: post) or "layer" (LayerNorm over the channels of each atom, with affine parameters).
    norm: str = "none"
    #: Envelope of the edge weight: "none" (the post: e = r, which jumps from r_c to 0 when
    #: a pair crosses the cutoff) or "polynomial" (e = r·u(r/r_c), NequIP's p = 6
    #: envelope, which goes to 0 smoothly at the cutoff).
    envelope: str = "none"
    #: 0: the edge weight is the distance (the post). n ≥ 1: each layer's edge weight is a
    #: learned function of the distance, softplus(w·g(r) + b), g(r) = n Gaussians of
    #: width r_c/n centred evenly on [0, r_c].
    rbf: int = 0

    def __post_init__(self) -> None:
        for key, allowed in (("norm", NORMS), ("envelope", ENVELOPES)):
            if getattr(self, key) not in allowed:
                raise ConfigError(f"gcn: '{key}' must be one of {', '.join(allowed)}, "
                                  f"got '{getattr(self, key)}'")
        if self.rbf < 0:
            raise ConfigError(f"gcn: 'rbf' must be 0 or positive, got {self.rbf}")


class GaussianEdgeWeight(nn.Module):
    """A learned positive edge weight from a Gaussian radial basis of the distance.

    e(r) = softplus(Σ_k w_k exp(−(r − μ_k)² / (2σ²)) + b), μ_k = k·r_c/(n−1) (k = 0..n−1;
    μ_0 = 0 when n = 1), σ = r_c/n. Positive, as the degree normalisation needs.

    Shapes: (n_edges,) lengths in Å → (n_edges,).
    """

    def __init__(self, cutoff: float, n: int):
        super().__init__()
        self.register_buffer("centres", torch.linspace(0.0, cutoff, n) if n > 1
                             else torch.zeros(1))
        self.inv_width = n / cutoff
        self.linear = nn.Linear(n, 1)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        basis = torch.exp(-0.5 * ((r.unsqueeze(-1) - self.centres) * self.inv_width) ** 2)
        return nn.functional.softplus(self.linear(basis).squeeze(-1))


def polynomial_envelope(r: torch.Tensor, cutoff: float, p: float = 6.0) -> torch.Tensor:
    """NequIP's envelope u(r/r_c) (Batzner et al. 2022, eq. 8): 1 at 0, 0 with its first
    two derivatives at r_c, 0 beyond. Shapes: (n_edges,) in Å → (n_edges,) in [0, 1]."""
    x = r / cutoff
    poly = -(p + 1.0) * (p + 2.0) / 2.0 + x * (p * (p + 2.0) - p * (p + 1.0) / 2.0 * x)
    return (1.0 + x.pow(p) * poly) * (x < 1.0)


class GCN(nn.Module):
    r"""Kipf & Welling graph convolutions with the interatomic distance as edge weight.

    Each layer is exactly the post's

    .. math:: x'_i = \Theta^\top \sum_{j \in N(i) \cup \{i\}} \frac{e_{ji}}{\sqrt{\hat d_j \hat d_i}} x_j,
              \qquad \hat d_i = 1 + \sum_{j \in N(i)} e_{ji},

    with :math:`e_{ji} = |r_j - r_i|` in Å, self-loops of weight 1 and no bias (PyG's
    ``GCNConv(add_self_loops=True, normalize=True, bias=False)``; the forward pass runs
    its ``lin`` and ``propagate`` on the self-loops and normalised weights of PyG's
    ``gcn_norm``, computed once for every layer that shares an edge weight: the same
    operations as calling each module), followed by SiLU.
    Node features in: one-hot atomic species. Energy: a per-atom MLP head, scaled,
    shifted and summed per frame. Latent: mean over atoms of the last layer's features.

    The variants of :class:`GCNConfig` keep this formula and change one thing each:
    ``norm="layer"`` applies LayerNorm to x' before SiLU; ``envelope="polynomial"``
    multiplies e_ji by a smooth cutoff envelope; ``rbf=n`` replaces e_ji by a learned
    positive function of a radial basis of the distance (one per layer). With the
    defaults no extra module is built and the forward pass is the post's, operation
    for operation.

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
        self.cutoff = float(cutoff)
        dims = [n_types] + [config.channels] * config.layers
        self.convs = nn.ModuleList(
            GCNConv(a, b, add_self_loops=True, normalize=True, bias=False)
            for a, b in itertools.pairwise(dims)
        )
        self.head = nn.Sequential(nn.Linear(config.channels, config.channels), nn.SiLU(),
                                  nn.Linear(config.channels, 1))
        self.scale_shift = EnergyScaleShift(n_types)
        # Variant modules are created after the post's, so a plain gcn draws the same
        # initial weights from the same seed as before they existed.
        self.norms = (nn.ModuleList(nn.LayerNorm(config.channels) for _ in self.convs)
                      if config.norm == "layer" else None)
        self.edge_weights = (nn.ModuleList(GaussianEdgeWeight(self.cutoff, config.rbf)
                                           for _ in self.convs) if config.rbf else None)

    def edge_weights_of(self, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """The edge weight e_ji of every layer: list over layers of (n_edges,).

        The post: |r_j − r_i| in Å for every layer (with the cell shift S·cell added to
        r_j − r_i on periodic frames); ``rbf`` replaces it by each layer's
        learned function of it; ``envelope`` multiplies either by u(r/r_c).
        """
        r = edge_vectors(batch).norm(dim=-1)
        u = polynomial_envelope(r, self.cutoff) if self.config.envelope == "polynomial" else None
        if self.edge_weights is None:  # one tensor for every layer
            return [r if u is None else r * u] * len(self.convs)
        weights = [edge_weight(r) for edge_weight in self.edge_weights]
        return weights if u is None else [w * u for w in weights]

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        from torch_geometric.nn.conv.gcn_conv import gcn_norm

        types = batch[keys.ATOM_TYPES]
        edge_index = batch[keys.EDGE_INDEX]
        weights = self.edge_weights_of(batch)
        x = nn.functional.one_hot(types, self.n_types).to(batch[keys.POSITIONS].dtype)
        features, normalised = [], {}
        for k, (conv, weight) in enumerate(zip(self.convs, weights, strict=True)):
            # conv(x, edge_index, weight), with the self-loops and degree normalisation
            # (GCNConv's gcn_norm) computed once per edge weight instead of once per layer
            if id(weight) not in normalised:
                normalised[id(weight)] = gcn_norm(edge_index, weight, x.shape[0],
                                                  add_self_loops=True, dtype=x.dtype)
            loops, norm = normalised[id(weight)]
            x = conv.propagate(loops, x=conv.lin(x), edge_weight=norm)
            if self.norms is not None:
                x = self.norms[k](x)
            x = nn.functional.silu(x)
            features.append(x)
        atomic = self.scale_shift(self.head(x).squeeze(-1), types)
        return model_outputs(self, batch, atomic, x, features)


__all__ = ["ENVELOPES", "GCN", "GCNConfig", "GaussianEdgeWeight", "NORMS",
           "polynomial_envelope"]
