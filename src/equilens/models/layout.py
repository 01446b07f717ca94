"""Equivariant features stored one tensor per rotation order.

``xs[l]`` has shape ``(n, 2l+1, mul_l)``: n atoms (or edges), the 2l+1 components of
order l, ``mul_l`` channels last. A linear layer is then one matmul per order, and
gathering or scattering over atoms moves whole contiguous rows (``index_select`` /
``index_add_`` on dim 0, several times faster on a CPU than on an inner dimension).
The parity of order l is always (-1)^l (``0e, 1o, 2e, ...``): spherical harmonics and
every tensor product path kept by the models have it.

``muls`` (a tuple indexed by l) gives the channels of each order, e.g. ``(32, 32)`` is
e3nn's ``32x0e + 32x1o``.
"""

from __future__ import annotations

import math

import torch
from e3nn import o3

Muls = tuple[int, ...]


def irreps_of(muls: Muls) -> o3.Irreps:
    """e3nn irreps ``mul_0 x 0e + mul_1 x 1o + ...`` of a per-order layout."""
    return o3.Irreps([(mul, (l, (-1) ** l)) for l, mul in enumerate(muls) if mul])


def to_flat(xs: list[torch.Tensor]) -> torch.Tensor:
    """Per-order tensors → e3nn's layout (n, Σ mul_l (2l+1)), channel-major per block."""
    n = xs[0].shape[0]
    return torch.cat([x.transpose(1, 2).reshape(n, -1) for x in xs], dim=1)


def from_flat(x: torch.Tensor, muls: Muls) -> list[torch.Tensor]:
    """Inverse of :func:`to_flat`: (n, dim) in e3nn's layout → per-order tensors."""
    out, start = [], 0
    for l, mul in enumerate(muls):
        size = mul * (2 * l + 1)
        out.append(x[:, start:start + size].reshape(-1, mul, 2 * l + 1).transpose(1, 2))
        start += size
    return out


def edge_harmonics(vectors: torch.Tensor, lengths: torch.Tensor, l_max: int) -> torch.Tensor:
    """Spherical harmonics Y_1..Y_l_max of edge directions: (n_edges, (l_max+1)² − 1).

    e3nn's real harmonics with ``component`` normalisation (|Y_l|² = 2l+1), orders
    concatenated. Y_0 = 1 is left out: it is never multiplied. Y_1 = √3 x̂ (e3nn's
    component order x, y, z) is written out; higher orders come from
    ``o3.spherical_harmonics``. ``lengths`` (n_edges,) are the norms of ``vectors``
    (n_edges, 3), in Å.
    """
    if l_max == 0:
        return vectors[:, :0]
    unit = vectors * (1.0 / lengths).unsqueeze(-1)
    y1 = unit * math.sqrt(3.0)
    if l_max == 1:
        return y1
    higher = o3.spherical_harmonics(list(range(2, l_max + 1)), unit, normalize=False,
                                    normalization="component")
    return torch.cat([y1, higher], dim=1)


def harmonic_orders(harmonics: torch.Tensor, l_max: int) -> list[torch.Tensor | None]:
    """:func:`edge_harmonics` per order: ``[None, Y_1, ..., Y_l_max]``, Y_l (n_edges, 2l+1, 1).

    Entry 0 (Y_0 = 1) is None: a tensor product path with l2 = 0 multiplies by nothing.
    """
    if l_max <= 1:
        return [None] + [harmonics.unsqueeze(-1)] * l_max
    blocks = harmonics.split([2 * l + 1 for l in range(1, l_max + 1)], dim=1)
    return [None] + [block.unsqueeze(-1) for block in blocks]
