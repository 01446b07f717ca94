"""Invariants of equivariant per-atom features, and their mean over each frame's atoms.

A layer of per-atom features with irreps ``mul x l p + ...`` (e3nn layout: each irrep's
``mul`` copies of ``2l+1`` components side by side) becomes one invariant per copy: a
scalar (``0e``) stays as it is, signed; a copy of order l > 0 (and a pseudoscalar ``0o``)
becomes its Euclidean norm over its ``2l+1`` components, which rotations (and, for
``0o``, the inversion) leave unchanged. A graph latent is the mean of these over each
frame's atoms, as ``egnn`` and ``gcn`` pool their last layer.
"""

from __future__ import annotations

import numpy as np
from e3nn import o3

from equilens.errors import ConfigError


def irrep_invariants(features: np.ndarray, irreps: o3.Irreps | str) -> np.ndarray:
    """(n_atoms, irreps.dim) features → (n_atoms, irreps.num_irreps) invariants.

    Columns follow the irreps: for ``128x0e+64x1e+32x2e`` the 128 scalars, then the norms
    of the 64 vectors, then the norms of the 32 rank-2 copies (224 columns). Units: those
    of the features.
    """
    irreps = o3.Irreps(irreps)
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != irreps.dim:
        raise ConfigError(f"features of shape {features.shape} do not match irreps {irreps} "
                          f"(dim {irreps.dim})")
    parts = []
    for (mul, ir), part in zip(irreps, irreps.slices()):
        block = features[:, part].reshape(len(features), mul, ir.dim)
        parts.append(block[..., 0] if ir == o3.Irrep("0e") else np.linalg.norm(block, axis=-1))
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(features), 0))


def pool_frames(per_atom: np.ndarray, n_atoms: np.ndarray) -> np.ndarray:
    """(n_atoms_total, d) per-atom values → (n_frames, d) means over each frame's atoms.

    ``n_atoms``: (n_frames,) atoms per frame, in the order the rows are packed.
    """
    n_atoms = np.asarray(n_atoms, dtype=np.int64)
    if n_atoms.sum() != len(per_atom) or (n_atoms < 1).any():
        raise ConfigError(f"{len(per_atom)} per-atom rows do not pack frames of "
                          f"{n_atoms.tolist()[:5]}... atoms")
    starts = np.concatenate([[0], np.cumsum(n_atoms)[:-1]])
    return np.add.reduceat(np.asarray(per_atom, dtype=np.float64), starts, axis=0) / n_atoms[:, None]
