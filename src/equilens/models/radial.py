"""Radial features of an edge: a Bessel basis times a smooth polynomial cutoff."""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from equilens.models.moments import second_moment_scale


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

    def envelope_factor(self, r: torch.Tensor) -> torch.Tensor:
        """√(2/r_c) u(r/r_c) / r, the part without trainable parameters: (n_edges,) → (n_edges,)."""
        return self.envelope(r) * (self.prefactor / r)

    def forward(self, r: torch.Tensor, factor: torch.Tensor | None = None) -> torch.Tensor:
        """(n_edges,) lengths → (n_edges, num_basis); ``factor``: a cached :meth:`envelope_factor`."""
        factor = self.envelope_factor(r) if factor is None else factor
        return torch.sin(r.unsqueeze(-1) * (self.freqs / self.cutoff)) * factor.unsqueeze(-1)


class RadialMLPs(nn.Module):
    """Per-edge weights h_k(embedding) of every interaction k: one MLP per layer, run together.

    Each MLP has dense layers without bias and SiLU between them, in e3nn's
    ``FullyConnectedNet`` convention: N(0, 1) weights scaled by 1/√fan_in and the
    activation rescaled to unit second moment (``normalize2mom``), so every layer starts
    with unit-variance outputs. The hidden layers of all MLPs are evaluated as batched
    matmuls over the layer index (one call per depth instead of one per interaction);
    their last layers, whose widths differ, one by one. ``out_scales[k]`` (one factor per
    output column) is folded into MLP k's last layer: the path constants of the tensor
    product it feeds.

    Shapes: (n_edges, sizes[0]) → list over k of (n_edges, outs[k]).
    """

    def __init__(self, sizes: list[int], outs: list[int],
                 out_scales: list[torch.Tensor] | None = None):
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"RadialMLPs needs at least one hidden layer, got sizes {sizes}")
        n = len(outs)
        self.outs = list(outs)
        self.hidden = nn.ParameterList(
            [nn.Parameter(torch.randn(n, a, b)) for a, b in itertools.pairwise(sizes)])
        self.last = nn.ParameterList([nn.Parameter(torch.randn(sizes[-1], out)) for out in outs])
        act = second_moment_scale(nn.functional.silu)
        self.alphas = [1.0 / math.sqrt(sizes[0])] + [act / math.sqrt(a) for a in sizes[1:-1]]
        alpha_last = act / math.sqrt(sizes[-1])
        for k, out in enumerate(outs):
            scale = torch.full((out,), alpha_last)
            if out_scales is not None:
                scale = scale * out_scales[k]
            self.register_buffer(f"out_scale_{k}", scale)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = x.expand(len(self.outs), *x.shape)
        for w, alpha in zip(self.hidden, self.alphas):
            h = nn.functional.silu(torch.bmm(h, w * alpha))  # (n_mlps, n_edges, width)
        # unbind, not h[k]: its backward is one stack instead of a zero-filled copy per k
        return [h_k @ (w * getattr(self, f"out_scale_{k}"))
                for k, (h_k, w) in enumerate(zip(h.unbind(0), self.last))]
