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


class UpdateLinear(nn.Module):
    """An interaction's output: messages mixed linearly plus a species self-interaction.

    ys[l] = ms[l] @ A_l / √mul_m_l + (xs[l] ⊗ onehot(Z)) @ B_l / √(mul_x_l · n_types),

    the sum of a :class:`Linear` on the aggregated messages ``ms`` and NequIP's
    species-dependent self-interaction of the layer input ``xs`` (e3nn's
    ``FullyConnectedTensorProduct(irreps, n_types x 0e, irreps_out)`` with one-hot
    attributes: one weight matrix per element), computed as one matmul per order on the
    concatenation ``[ms[l] | xs[l] ⊗ onehot(Z)]``. Either side may lack an order.

    Shapes: ms[l] (n, 2l+1, muls_m[l]), xs[l] (n, 2l+1, muls_x[l]), ``onehot`` (n, 1,
    n_types, 1) from :func:`species_onehot` → ys[l] (n, 2l+1, muls_out[l]).
    """

    def __init__(self, muls_m: Muls, muls_x: Muls, muls_out: Muls, n_types: int):
        super().__init__()
        self.muls_m, self.muls_x = tuple(muls_m), tuple(muls_x)
        self.muls_out, self.n_types = tuple(muls_out), n_types
        self.orders_m = set(shared_orders(self.muls_m, self.muls_out))
        self.orders_x = set(shared_orders(self.muls_x, self.muls_out))
        self.orders = sorted(self.orders_m | self.orders_x)
        weights = []
        for l in self.orders:
            scale = []
            if l in self.orders_m:
                scale.append(torch.full((self.muls_m[l], 1), 1.0 / math.sqrt(self.muls_m[l])))
            if l in self.orders_x:
                fan_in = self.muls_x[l] * n_types
                scale.append(torch.full((fan_in, 1), 1.0 / math.sqrt(fan_in)))
            scale = torch.cat(scale)
            self.register_buffer(f"row_scale_{l}", scale)
            weights.append(nn.Parameter(torch.randn(len(scale), self.muls_out[l])))
        self.weights = nn.ParameterList(weights)

    def forward(self, ms: list[torch.Tensor], xs: list[torch.Tensor],
                onehot: torch.Tensor) -> list[torch.Tensor | None]:
        out: list[torch.Tensor | None] = [None] * len(self.muls_out)
        for l, w in zip(self.orders, self.weights):
            parts = [ms[l]] if l in self.orders_m else []
            if l in self.orders_x:
                n, m, mul = xs[l].shape
                parts.append((xs[l].unsqueeze(2) * onehot).view(n, m, self.n_types * mul))
            inputs = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
            out[l] = inputs @ (w * getattr(self, f"row_scale_{l}"))
        return out


def species_onehot(types: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
    """(n,) element indices → (n, 1, n_types, 1) one-hot, the attribute of :class:`UpdateLinear`.

    ``identity`` is the (n_types, n_types) identity matrix in the features' dtype: its
    rows are the one-hot vectors (one gather, no validation pass over ``types``).
    """
    return identity.index_select(0, types).view(-1, 1, identity.shape[0], 1)
