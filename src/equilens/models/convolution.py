"""The equivariant convolution: a fused 'uvu' tensor product with learned radial weights.

For every path (l1, l2 → l3) with l1 + l2 + l3 even,

    m_ij[l3] = w_p(|r_ij|) · C^{l1 l2 l3} (x_j[l1] ⊗ Y^{l2}(r̂_ij)),   x'_i = (1/√z) Σ_j m_ij,

channel by channel ('uvu': the weight w_p has one value per edge and input channel),
with C e3nn's Wigner 3j symbols times √(2 l3 + 1) ('component' normalisation). This is
e3nn's ``TensorProduct(..., "uvu", shared_weights=False)`` — the tests check equality
with it — evaluated without a general contraction: a path with l1 = 0, l2 = 0 or
l3 = 0 has C proportional to an identity and costs one or two element-wise products;
only the remaining ones (l_max ≥ 2, or 1⊗1→2) contract C explicitly. Path constants
and 1/√z (``weight_scale``) are folded into the last layer of the radial MLP that
computes the weights (:class:`~equilens.models.radial.RadialMLPs`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from e3nn import o3
from torch import nn

from equilens.models.layout import Muls


def _paths(muls_in: Muls, l_sh: int, orders_out: set[int]) -> list[tuple[int, int, int]]:
    return [(l1, l2, l3) for l1, mul in enumerate(muls_in) if mul for l2 in range(l_sh + 1)
            for l3 in range(abs(l1 - l2), l1 + l2 + 1)
            if l3 in orders_out and (l1 + l2 + l3) % 2 == 0]


def _kind(l1: int, l2: int, l3: int) -> str:
    return "copy" if l2 == 0 else "outer" if l1 == 0 else "dot" if l3 == 0 else "general"


def paired_half(src: torch.Tensor, dst: torch.Tensor) -> int | None:
    """n_edges/2 if the second half of the edges reverses the first, edge by edge, else None.

    Graphs built by :mod:`equilens.data` come in this paired order; anything depending on
    an edge's length only (radial embedding and MLP) is then computed once per pair.
    Checked on every call (two comparisons of n_edges/2 indices), so a batch whose edges
    were reordered is simply treated edge by edge.
    """
    n = src.shape[0]
    half = n // 2
    if n == 0 or n % 2 or not (torch.equal(src[half:], dst[:half])
                               and torch.equal(dst[half:], src[:half])):
        return None
    return half


class Convolution(nn.Module):
    """Message passing x'_i = (1/√z) Σ_{j∈∂(i)} x_j ⊗_{w(r_ij)} Y(r̂_ij), per-order layout.

    Shapes: xs[l] (n_atoms, 2l+1, muls_in[l]); sh from
    :func:`~equilens.models.layout.harmonic_orders` (sh[0] is not read); weights
    (n_edges, weight_numel), path by path (columns ``slices[p]``), already multiplied by
    ``weight_scale`` — or (n_edges/2, weight_numel) for edges in paired order
    (:func:`paired_half`), whose two directions share the weights of their distance;
    src/dst (n_edges,) neighbour j → centre i. Output: per order l3 the paths into it
    concatenated along channels, ``(n_atoms, 2l3+1, muls_out[l3])``.
    """

    def __init__(self, muls_in: Muls, l_sh: int, orders_out: set[int], avg_neighbours: float,
                 in_scale: Sequence[float] | None = None, normalize_output: bool = False):
        """``in_scale[l1]``: a factor the input of order l1 still lacks (the 1/√fan_in of the
        linear map before, :class:`~equilens.models.linear.Linear`); ``normalize_output``:
        also apply 1/√muls_out[l3], the fan-in normalisation of the linear map that mixes
        the messages next (:class:`~equilens.models.linear.UpdateLinear`). Both end up in
        ``weight_scale``: the convolution is linear in its input and its weights."""
        super().__init__()
        self.muls_in = tuple(muls_in)
        self.paths = _paths(self.muls_in, l_sh, orders_out)
        self.kinds = [_kind(*path) for path in self.paths]
        l_out = max(l3 for _, _, l3 in self.paths)
        self.muls_out = tuple(sum(self.muls_in[l1] for l1, _, l3 in self.paths if l3 == l)
                              for l in range(l_out + 1))
        scales, self.slices, self.path_factors, start = [], [], [], 0
        for (l1, l2, l3), kind in zip(self.paths, self.kinds):
            c = math.sqrt(2 * l3 + 1) * o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
            if kind == "general":
                self.register_buffer(f"cg_{l1}_{l2}_{l3}", c.to(torch.get_default_dtype()))
                factor = 1.0
            else:  # C = factor · identity over the components that remain
                factor = float(c.flatten()[0])
                identity = torch.eye(2 * max(l1, l2, l3) + 1, dtype=torch.float64)
                torch.testing.assert_close(c.reshape(identity.shape), factor * identity)
            mul = self.muls_in[l1]
            self.path_factors.append(factor)
            scale = factor / math.sqrt(avg_neighbours)
            scale *= 1.0 if in_scale is None else in_scale[l1]
            scale *= 1.0 / math.sqrt(self.muls_out[l3]) if normalize_output else 1.0
            scales.append(torch.full((mul,), scale))
            self.slices.append((start, start + mul))
            start += mul
        self.weight_numel = start
        # A buffer (not saved with the weights), not a plain attribute: the forward pass
        # never reads it (the radial MLP applies it), so two models that differ only in
        # it (molecules with as many elements, another mean neighbour count) have the
        # same structure and share a compiled graph without tracing it again.
        self.register_buffer("weight_scale", torch.cat(scales), persistent=False)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        """Weights saved when ``weight_scale`` was still saved with them load too: it is
        derived from the architecture and the mean neighbour count, so a saved copy must
        equal this model's (else the checkpoint is of another model: an error)."""
        saved = state_dict.pop(prefix + "weight_scale", None)
        if saved is not None and (saved.shape != self.weight_scale.shape or not torch.allclose(
                saved.to(self.weight_scale), self.weight_scale, rtol=1e-6, atol=0.0)):
            raise RuntimeError(f"{prefix}weight_scale of the checkpoint differs from this "
                               f"model's (another mean neighbour count or architecture)")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, xs: list[torch.Tensor], sh: list[torch.Tensor | None], weights: torch.Tensor,
                src: torch.Tensor, dst: torch.Tensor) -> list[torch.Tensor]:
        n_edges = src.shape[0]
        # Paired edges (see paired_half): one weight row per pair, broadcast over both
        # directions by viewing per-edge tensors as (2, n_pairs, ...).
        lead = (n_edges,) if weights.shape[0] == n_edges else (2, weights.shape[0])
        gathered = [x.index_select(0, src).view(*lead, *x.shape[1:]) for x in xs]
        sh = [None if y is None else y.view(*lead, *y.shape[1:]) for y in sh]
        parts: list[list[torch.Tensor]] = [[] for _ in self.muls_out]
        # split, not slices: its backward is one cat instead of a zero-filled copy per path
        path_weights = weights.split([b - a for a, b in self.slices], dim=1)
        for (l1, l2, l3), kind, w in zip(self.paths, self.kinds, path_weights):
            w, x = w.unsqueeze(-2), gathered[l1]
            if kind == "copy":
                m = x * w
            elif kind == "outer":
                m = sh[l2] * (x * w)
            elif kind == "dot":
                m = (x * sh[l2]).sum(-2, keepdim=True) * w
            else:
                cg = getattr(self, f"cg_{l1}_{l2}_{l3}")
                m = torch.einsum("ijk,...jo,...iu->...ku", cg, sh[l2], x) * w
            parts[l3].append(m.reshape(n_edges, *m.shape[len(lead):]))
        n = xs[0].shape[0]
        out = []
        for l, messages in enumerate(parts):
            m = messages[0] if len(messages) == 1 else torch.cat(messages, dim=-1)
            agg = torch.zeros(n, 2 * l + 1, m.shape[-1], dtype=m.dtype, device=m.device)
            out.append(agg.index_add_(0, dst, m))
        return out
