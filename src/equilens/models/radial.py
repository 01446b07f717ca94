"""Radial features of an edge: a Bessel basis times a smooth polynomial cutoff."""

from __future__ import annotations

import itertools
import math

import torch
from e3nn.math import normalize2mom
from torch import nn


class RadialEmbedding(nn.Module):
    """Bessel basis times a smooth polynomial cutoff (NequIP, Batzner et al. 2022, eqs. 7-8).

    b_n(r) = √(2/r_c) sin(f_n r / r_c) / r · u(r / r_c), f_n = nπ (n = 1..num_basis)
    trainable, u(x) = 1 − (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) − p(p+1)/2 x^(p+2) for x < 1
    and 0 beyond (the envelope, evaluated by Horner's rule).

    Shapes: (n_edges,) lengths in Å → (n_edges, num_basis).
    """

    def __init__(self, cutoff: float, num_basis: int = 8, p: int = 6, trainable: bool = True):
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = float(p)
        self.num_basis = num_basis
        freqs = torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype()) * math.pi
        self.freqs = nn.Parameter(freqs, requires_grad=trainable)
        self.prefactor = math.sqrt(2.0 / self.cutoff)

    def envelope(self, r: torch.Tensor) -> torch.Tensor:
        """u(r / r_c): (n_edges,) → (n_edges,) in [0, 1]."""
        p, x = self.p, r * (1.0 / self.cutoff)
        poly = -(p + 1.0) * (p + 2.0) / 2.0 + x * (p * (p + 2.0) - p * (p + 1.0) / 2.0 * x)
        return (1.0 + x.pow(p) * poly) * (x < 1.0)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        radial = self.envelope(r) * (self.prefactor / r)
        return torch.sin(r.unsqueeze(-1) * (self.freqs / self.cutoff)) * radial.unsqueeze(-1)


class RadialMLP(nn.Module):
    """Per-edge weights h(embedding): dense layers without bias, SiLU between them.

    e3nn's ``FullyConnectedNet`` convention: N(0, 1) weights scaled by 1/√fan_in and the
    activation rescaled to unit second moment (``normalize2mom``), so every layer starts
    with unit-variance outputs. ``out_scale`` (one factor per output column) is folded
    into the last layer: the path constants of the tensor product it feeds.

    Shapes: (n_edges, sizes[0]) → (n_edges, sizes[-1]).
    """

    def __init__(self, sizes: list[int], out_scale: torch.Tensor | None = None):
        super().__init__()
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.randn(a, b)) for a, b in itertools.pairwise(sizes)])
        act = normalize2mom(nn.functional.silu).cst
        alphas = [1.0 / math.sqrt(sizes[0])] + [act / math.sqrt(a) for a in sizes[1:-1]]
        scale = torch.full((sizes[-1],), alphas[-1]) * (1 if out_scale is None else out_scale)
        self.alphas = alphas[:-1]
        self.register_buffer("out_scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for w, alpha in zip(self.weights[:-1], self.alphas):
            x = nn.functional.silu(x @ (w * alpha))
        return x @ (self.weights[-1] * self.out_scale)
