"""Equivariant linear maps on per-order features (see :mod:`equilens.models.layout`).

Weights are N(0, 1) and scaled by 1/√fan_in, as in e3nn's ``o3.Linear`` and
``FullyConnectedTensorProduct`` ('element' path normalisation), so that features keep
unit second moment at initialisation and Adam's step size means the same in every layer.
The factors are applied where they cost nothing extra: :class:`Linear` and
:class:`UpdateLinear` leave them to the interaction, which folds them into its
convolution weights and species attributes.
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
    """ys[l] = xs[l] @ W_l for every order present in both input and output.

    The normalisation 1/√mul_in_l of e3nn's ``o3.Linear`` (``alpha[l]``) is not applied
    here: the caller folds it into the next linear operation (the interaction, into its
    convolution weights): the same function of the same weights, one multiplication
    fewer per order and step.

    Shapes: xs[l] (n, 2l+1, muls_in[l]) → ys[l] (n, 2l+1, muls_out[l]), None for an
    output order without input (an equivariant map cannot create it).
    """

    def __init__(self, muls_in: Muls, muls_out: Muls):
        super().__init__()
        self.muls_in, self.muls_out = tuple(muls_in), tuple(muls_out)
        self.orders = shared_orders(self.muls_in, self.muls_out)
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.randn(self.muls_in[l], self.muls_out[l])) for l in self.orders])
        #: per input order: 1/√mul_in (1.0 for an order the map does not use)
        self.alpha = tuple(1.0 / math.sqrt(mul) if mul else 1.0 for mul in self.muls_in)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor | None]:
        out: list[torch.Tensor | None] = [None] * len(self.muls_out)
        for l, w in zip(self.orders, self.weights):
            out[l] = xs[l] @ w
        return out


class UpdateLinear(nn.Module):
    """An interaction's output: messages mixed linearly plus a species self-interaction.

    ys[l] = ms[l] @ A_l / √mul_m_l + (xs[l] ⊗ onehot(Z)) @ B_l / √(mul_x_l · n_types),

    the sum of a :class:`Linear` on the aggregated messages ``ms`` and NequIP's
    species-dependent self-interaction of the layer input ``xs`` (e3nn's
    ``FullyConnectedTensorProduct(irreps, n_types x 0e, irreps_out)`` with one-hot
    attributes: one weight matrix per element), computed as one matmul per order on the
    concatenation ``[ms[l] | xs[l] ⊗ attrs]``. Either side may lack an order.

    The two normalisation factors are not applied here: ``ms[l]`` must come already
    multiplied by ``m_alpha[l]`` = 1/√mul_m_l (the convolution producing them folds it
    into its weights), and ``attrs`` is the one-hot of :func:`species_onehot` times
    ``attr_alpha`` = 1/√(mul_x · n_types), which needs the same mul_x in every order.

    Shapes: ms[l] (n, 2l+1, muls_m[l]), xs[l] (n, 2l+1, muls_x[l]), ``attrs`` (n, 1,
    n_types, 1) → ys[l] (n, 2l+1, muls_out[l]).
    """

    def __init__(self, muls_m: Muls, muls_x: Muls, muls_out: Muls, n_types: int):
        super().__init__()
        self.muls_m, self.muls_x = tuple(muls_m), tuple(muls_x)
        self.muls_out, self.n_types = tuple(muls_out), n_types
        self.orders_m = set(shared_orders(self.muls_m, self.muls_out))
        self.orders_x = set(shared_orders(self.muls_x, self.muls_out))
        self.orders = sorted(self.orders_m | self.orders_x)
        used_x = {self.muls_x[l] for l in self.orders_x}
        if len(used_x) > 1:
            raise ValueError(f"UpdateLinear needs one multiplicity for the self-interaction "
                             f"input, got {self.muls_x}")
        self.m_alpha = tuple(1.0 / math.sqrt(mul) if mul else 1.0 for mul in self.muls_m)
        self.attr_alpha = 1.0 / math.sqrt(used_x.pop() * n_types) if used_x else 1.0
        self.weights = nn.ParameterList([nn.Parameter(torch.randn(
            (self.muls_m[l] if l in self.orders_m else 0)
            + (self.muls_x[l] * n_types if l in self.orders_x else 0), self.muls_out[l]))
            for l in self.orders])

    def forward(self, ms: list[torch.Tensor], xs: list[torch.Tensor],
                attrs: torch.Tensor) -> list[torch.Tensor | None]:
        out: list[torch.Tensor | None] = [None] * len(self.muls_out)
        for l, w in zip(self.orders, self.weights):
            parts = [ms[l]] if l in self.orders_m else []
            if l in self.orders_x:
                n, m, mul = xs[l].shape
                parts.append((xs[l].unsqueeze(2) * attrs).view(n, m, self.n_types * mul))
            out[l] = (parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)) @ w
        return out


def species_onehot(types: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """(n,) element indices → (n, 1, n_types, 1) rows of ``table``: the attrs of :class:`UpdateLinear`.

    ``table`` is the (n_types, n_types) identity matrix (times ``attr_alpha``) in the
    features' dtype: its rows are the one-hot vectors (one gather, no validation pass
    over ``types``).
    """
    return table.index_select(0, types).view(-1, 1, table.shape[0], 1)
