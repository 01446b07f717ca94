"""`EGNN`: the study's E(3)-equivariant network (NequIP-style, built with e3nn)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from e3nn import o3
from torch import nn

from equilens.data import keys
from equilens.models.convolution import paired_half
from equilens.models.edges import edge_vectors
from equilens.models.interaction import Interaction
from equilens.models.layout import edge_harmonics, harmonic_orders, irreps_of, to_flat
from equilens.models.linear import species_onehot
from equilens.models.radial import RadialEmbedding, RadialMLPs
from equilens.models.readout import analysis_outputs, model_outputs
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
    return irreps_of((channels,) * (l_max + 1))


class EGNN(nn.Module):
    """E(3)-equivariant message passing; energy is a sum of per-atom scalars.

    Pipeline: one-hot species → ``channels x 0e`` → ``layers`` interactions with hidden
    irreps ``hidden_irreps(channels, l_max)`` (the last one scalars only) → per-atom
    energy by a linear head → scale/shift → sum per frame. The graph latent is the mean
    over atoms of the last layer's ``channels x 0e`` features. Features travel in the
    per-order layout of :mod:`equilens.models.layout`; NODE_FEATURES are returned in
    e3nn's layout.

    forward(batch) → dict with ENERGY (n_frames,) kcal/mol, ATOMIC_ENERGY (n_atoms,),
    LATENT (n_frames, channels) and NODE_FEATURES (list over layers, irreps in
    ``layer_irreps``); the last two in eval mode only (see ``readout.analysis_outputs``).
    """

    def __init__(self, config: EGNNConfig, n_types: int, cutoff: float, avg_neighbours: float):
        super().__init__()
        self.config = config
        c = config
        self.n_types = n_types
        self.radial = RadialEmbedding(cutoff, c.num_basis, c.cutoff_p)
        self.embed = nn.Parameter(torch.randn(n_types, c.channels))
        muls: tuple[int, ...] = (c.channels,)
        layers = []
        for k in range(c.layers):
            out = (c.channels,) * (1 if k == c.layers - 1 else c.l_max + 1)
            layers.append(Interaction(muls, out, c.l_max, n_types, avg_neighbours))
            muls = out
        self.interactions = nn.ModuleList(layers)
        # one-hot species rows, times the self-interactions' normalisation (the same in
        # every layer: all take `channels` channels per order)
        (attr_alpha,) = {layer.update.attr_alpha for layer in layers}
        self.register_buffer("species_attrs", torch.eye(n_types) * attr_alpha)
        self.radial_mlps = RadialMLPs([c.num_basis, c.radial_hidden, c.radial_hidden],
                                      [layer.conv.weight_numel for layer in layers],
                                      [layer.conv.weight_scale for layer in layers])
        self.layer_irreps = [layer.irreps_out for layer in layers]
        self.latent_irreps = irreps_of(muls)
        hidden = max(c.channels // 2, 1)
        self.head = nn.ParameterList([nn.Parameter(torch.randn(c.channels, hidden)),
                                      nn.Parameter(torch.randn(hidden, 1))])
        # the head's two 1/√fan_in, applied once to the per-atom energy
        self.head_alpha = 1.0 / math.sqrt(c.channels * hidden)
        self.scale_shift = EnergyScaleShift(n_types)

    def edge_geometry(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The per-edge inputs that depend on positions only (keys ``keys.EDGE_GEOMETRY``).

        EDGE_LENGTHS (n_edges,) Å of r_ij = x_j − x_i (+ S·cell on periodic frames); EDGE_HARMONICS (n_edges, (l_max+1)² − 1), Y_1..Y_l_max
        of the edge direction; EDGE_ENVELOPE (n_edges,) 1/Å, the radial embedding's
        length-only factor. When positions do not change (energy-only training) the
        trainer computes them once per data set and :meth:`forward` takes them from the
        batch; with positions that require a gradient they are always recomputed.
        """
        vec = edge_vectors(batch)
        lengths = vec.norm(dim=-1)
        harmonics = edge_harmonics(vec, lengths, self.config.l_max)
        return {keys.EDGE_LENGTHS: lengths, keys.EDGE_HARMONICS: harmonics,
                keys.EDGE_ENVELOPE: self.radial.envelope_factor(lengths)}

    def forward(self, batch: dict[str, torch.Tensor],
                paired: bool | None = None) -> dict[str, torch.Tensor]:
        """``paired``: whether the batch's edges are in paired order
        (:func:`~equilens.models.convolution.paired_half`); None checks it. Given, it is
        trusted: the pass then has no data-dependent branch and can be traced as one graph
        (:mod:`equilens.models.compiled`)."""
        pos = batch[keys.POSITIONS]
        types = batch[keys.ATOM_TYPES]
        src, dst = batch[keys.EDGE_INDEX]
        if paired is None:
            paired = paired_half(src, dst) is not None
        moving = pos.requires_grad or (keys.CELL in batch and batch[keys.CELL].requires_grad)
        cached = not moving and all(k in batch for k in keys.EDGE_GEOMETRY)
        geometry = batch if cached else self.edge_geometry(batch)
        lengths, envelope = geometry[keys.EDGE_LENGTHS], geometry[keys.EDGE_ENVELOPE]
        if paired:  # both directions of a pair share its radial weights
            half = src.shape[0] // 2
            lengths, envelope = lengths[:half], envelope[:half]
        sh = harmonic_orders(geometry[keys.EDGE_HARMONICS], self.config.l_max)
        weights = self.radial_mlps(self.radial(lengths, envelope))
        attrs = species_onehot(types, self.species_attrs)
        xs = [(self.embed * (1.0 / math.sqrt(self.n_types))).index_select(0, types).unsqueeze(1)]
        analysis = analysis_outputs(self)
        features = []
        for layer, w in zip(self.interactions, weights):
            xs = layer(xs, attrs, sh, w, src, dst)
            if analysis:
                features.append(to_flat(xs))
        scalars = xs[0].squeeze(1)
        x = scalars
        for w in self.head:
            x = x @ w
        atomic = self.scale_shift(x.squeeze(-1), types, self.head_alpha)
        return model_outputs(self, batch, atomic, scalars, features)
