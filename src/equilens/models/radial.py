"""Radial features of an edge: a Bessel basis times a smooth polynomial cutoff."""

from __future__ import annotations

import math

import torch
from torch import nn


class BesselBasis(nn.Module):
    """sqrt(2/r_c) sin(n π r / r_c) / r for n = 1..num_basis, frequencies trainable.

    Shapes: (n_edges,) lengths in Å → (n_edges, num_basis).
    As in NequIP (Batzner et al. 2022, Nat. Commun. 13, 2453, eq. 7).
    """

    def __init__(self, cutoff: float, num_basis: int = 8, trainable: bool = True):
        super().__init__()
        self.cutoff = float(cutoff)
        freqs = torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype()) * math.pi
        self.freqs = nn.Parameter(freqs, requires_grad=trainable)
        self.prefactor = math.sqrt(2.0 / self.cutoff)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        x = r.unsqueeze(-1) / self.cutoff
        return self.prefactor * torch.sin(self.freqs * x) / r.unsqueeze(-1)


class PolynomialCutoff(nn.Module):
    """Envelope going smoothly to 0 at the cutoff (p-th order; NequIP eq. 8).

    Shapes: (n_edges,) lengths in Å → (n_edges,) in [0, 1].
    """

    def __init__(self, cutoff: float, p: int = 6):
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = float(p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        x = r / self.cutoff
        p = self.p
        out = (1.0 - (p + 1.0) * (p + 2.0) / 2.0 * x.pow(p) + p * (p + 2.0) * x.pow(p + 1.0)
               - p * (p + 1.0) / 2.0 * x.pow(p + 2.0))
        return out * (x < 1.0)


class RadialEmbedding(nn.Module):
    """Bessel basis × polynomial cutoff: (n_edges,) Å → (n_edges, num_basis)."""

    def __init__(self, cutoff: float, num_basis: int = 8, p: int = 6):
        super().__init__()
        self.basis = BesselBasis(cutoff, num_basis)
        self.envelope = PolynomialCutoff(cutoff, p)
        self.num_basis = num_basis

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return self.basis(r) * self.envelope(r).unsqueeze(-1)
