"""One NequIP-style equivariant interaction (convolution + gate + self-interaction)."""

from __future__ import annotations

import torch
from torch import nn

from equilens.models.convolution import Convolution
from equilens.models.gate import Gate
from equilens.models.layout import Muls, irreps_of
from equilens.models.linear import Linear, UpdateLinear


class Interaction(nn.Module):
    """f'_i = Gate( W₂ [ (1/√z) Σ_{j∈∂(i)} (W₁ f_j) ⊗_{h(|x_ij|)} Y(x̂_ij) ] + SI(f_i, Z_i) ).

    The convolution filter is the spherical harmonics Y of the edge direction times a
    learned radial MLP h of the Bessel embedding (Batzner et al. 2022; Thomas et al. 2018);
    z is the mean neighbour count of the training set; SI is a species-dependent
    self-interaction (a linear layer per element), computed with W₂ in one
    :class:`~equilens.models.linear.UpdateLinear`. The radial MLP lives in the model
    (:class:`~equilens.models.radial.RadialMLPs`, all layers' at once); ``conv.weight_numel``
    and ``conv.weight_scale`` say what it must produce.

    Shapes (per-order layout of :mod:`equilens.models.layout`): xs[l] (n_atoms, 2l+1,
    muls_in[l]) → (n_atoms, 2l+1, muls_out[l]); ``attrs`` the one-hot of
    :func:`~equilens.models.linear.species_onehot` times ``update.attr_alpha``; sh per
    edge; ``weights`` (n_edges or, paired, n_edges/2, conv.weight_numel); src/dst
    (n_edges,) neighbour j → centre i.
    """

    def __init__(self, muls_in: Muls, muls_out: Muls, l_sh: int, n_types: int,
                 avg_neighbours: float):
        super().__init__()
        self.muls_in, self.muls_out = tuple(muls_in), tuple(muls_out)
        self.irreps_in, self.irreps_out = irreps_of(self.muls_in), irreps_of(self.muls_out)
        # The normalisations of linear_in and of the messages' half of update are folded
        # into the convolution's weights (it is linear in both).
        self.linear_in = Linear(self.muls_in, self.muls_in)
        self.conv = Convolution(self.muls_in, l_sh, set(range(len(self.muls_out))),
                                avg_neighbours, in_scale=self.linear_in.alpha,
                                normalize_output=True)
        self.gate = Gate(self.muls_out)
        self.update = UpdateLinear(self.conv.muls_out, self.muls_in, self.gate.muls_in, n_types)

    def forward(self, xs: list[torch.Tensor], attrs: torch.Tensor, sh: list[torch.Tensor | None],
                weights: torch.Tensor, src: torch.Tensor, dst: torch.Tensor) -> list[torch.Tensor]:
        messages = self.conv(self.linear_in(xs), sh, weights, src, dst)
        return self.gate(self.update(messages, xs, attrs))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.irreps_in} -> {self.irreps_out})"
