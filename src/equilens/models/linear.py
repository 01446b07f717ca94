"""Equivariant linear maps on per-order features (see :mod:`equilens.models.layout`).

Weights are N(0, 1) and scaled by 1/√fan_in when used, as in e3nn's ``o3.Linear`` and
``FullyConnectedTensorProduct`` ('element' path normalisation), so that features keep
unit second moment at initialisation and Adam's step size means the same in every layer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from equilens.models.layout import Muls


def shared_orders(muls_in: Muls, muls_out: Muls) -> list[int]:
    """Orders with channels on both sides: the only ones a linear map can produce."""
    return [l for l, mul in enumerate(muls_out) if mul and l < len(muls_in) and muls_in[l]]


def add(a: list[torch.Tensor | None], b: list[torch.Tensor | None]) -> list[torch.Tensor]:
    """Order-wise sum of two per-order lists where either may miss an order (None)."""
    return [x if y is None else y if x is None else x + y for x, y in zip(a, b)]


class Linear(nn.Module):
    """ys[l] = xs[l] @ W_l / √mul_in_l for every order present in both input and output.

    Shapes: xs[l] (n, 2l+1, muls_in[l]) → ys[l] (n, 2l+1, muls_out[l]), None for an
    output order without input (an equivariant map cannot create it).
    """

    def __init__(self, muls_in: Muls, muls_out: Muls):
        super().__init__()
        self.muls_in, self.muls_out = tuple(muls_in), tuple(muls_out)
        self.orders = shared_orders(self.muls_in, self.muls_out)
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.randn(self.muls_in[l], self.muls_out[l])) for l in self.orders])
        self.alphas = [1.0 / math.sqrt(self.muls_in[l]) for l in self.orders]

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor | None]:
        out: list[torch.Tensor | None] = [None] * len(self.muls_out)
        for l, w, alpha in zip(self.orders, self.weights, self.alphas):
            out[l] = xs[l] @ (w * alpha)
        return out


class SpeciesLinear(nn.Module):
    """Self-interaction with one weight matrix per element (NequIP's species-dependent SI).

    ys[l]_i = xs[l]_i @ W_{l, Z_i} / √(mul_in_l · n_types): e3nn's
    ``FullyConnectedTensorProduct(irreps, n_types x 0e, irreps_out)`` with one-hot
    attributes, computed as one matmul for all elements and a gather of each atom's own.
    ``species`` (n, 1, 1, 1) is :func:`species_index` of the atom types.
    """

    def __init__(self, muls_in: Muls, muls_out: Muls, n_types: int):
        super().__init__()
        self.muls_in, self.muls_out, self.n_types = tuple(muls_in), tuple(muls_out), n_types
        self.orders = shared_orders(self.muls_in, self.muls_out)
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.randn(self.muls_in[l], n_types * self.muls_out[l]))
             for l in self.orders])
        self.alphas = [1.0 / math.sqrt(self.muls_in[l] * n_types) for l in self.orders]

    def forward(self, xs: list[torch.Tensor], species: torch.Tensor) -> list[torch.Tensor | None]:
        out: list[torch.Tensor | None] = [None] * len(self.muls_out)
        for l, w, alpha in zip(self.orders, self.weights, self.alphas):
            n, m, _ = xs[l].shape
            y = (xs[l] @ (w * alpha)).view(n, m, self.n_types, self.muls_out[l])
            out[l] = y.gather(2, species.expand(n, m, 1, self.muls_out[l])).squeeze(2)
        return out


def species_index(types: torch.Tensor) -> torch.Tensor:
    """(n,) element indices → (n, 1, 1, 1), the gather index of :class:`SpeciesLinear`."""
    return types.view(-1, 1, 1, 1)
