"""How well one latent space reconstructs another, on the same frames.

For latents X (n_frames, d_x) and Y (n_frames, d_y) of the same frames, three measures:

- **GFRE** (global feature reconstruction error, Goscinski, Fraux, Imbalzano and
  Ceriotti, Mach. Learn.: Sci. Technol. 2, 025028 (2021)): the test error of the best
  linear map X → Y (ridge, fitted on half the frames, regularisation by 2-fold CV), on
  features scaled so that it is at most ~1 on the training frames. 0: Y is a linear
  function of X; 1: X says nothing about Y. Not symmetric.
- **LFRE** (local feature reconstruction error, same paper): the same with a separate
  linear map fitted around each test frame on its ``n_local`` nearest training frames in
  X; it forgives a map that is only locally linear.
- **linear CKA** (centred kernel alignment, Kornblith, Norouzi, Lee and Hinton, ICML
  2019): ``HSIC(XXᵀ, YYᵀ) / sqrt(HSIC(XXᵀ, XXᵀ) HSIC(YYᵀ, YYᵀ))`` with linear kernels on
  centred features, which is ``‖YcᵀXc‖²_F / (‖XcᵀXc‖_F ‖YcᵀYc‖_F)``. 1: identical up to a
  rotation and an isotropic scale; symmetric.

GFRE and LFRE are computed by :mod:`~equilens.analysis.reconstruction`, which follows
scikit-matter's ``skmatter.metrics`` step by step (same numbers); CKA is implemented here.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from equilens.analysis.reconstruction import gfre, lfre
from equilens.errors import DataError

#: Most neighbours of each test frame for the LFRE's local maps (the paper's 100); a
#: quarter of the training frames when that is fewer, so that the maps stay local.
N_LOCAL = 100
#: Columns of ``latent_similarity.csv``.
SIMILARITY_COLUMNS = ["from", "to", "gfre", "lfre", "cka"]


def _centred(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise DataError(f"latent '{name}' must be a finite (n_frames, d) array, got shape "
                        f"{x.shape}")
    xc = x - x.mean(axis=0)
    if not np.any(xc):
        raise DataError(f"latent '{name}' is the same for every frame: nothing to compare")
    return xc


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of (n, d_x) and (n, d_y) latents of the same n frames, in [0, 1]."""
    if len(x) != len(y):
        raise DataError(f"latents of {len(x)} and {len(y)} frames: not the same frames")
    xc, yc = _centred(x, "x"), _centred(y, "y")
    # scale first: the ratio is scale-free, and the Frobenius norms then stay finite
    xc, yc = xc / np.linalg.norm(xc), yc / np.linalg.norm(yc)
    cross = np.linalg.norm(yc.T @ xc) ** 2
    cka = cross / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))
    return float(min(cka, 1.0))  # 1 + rounding for latents equal up to rotation and scale


def halves(n_frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) frame indices: a seeded random half each (sorted)."""
    if n_frames < 4:
        raise DataError(f"comparing latents needs at least 4 frames, got {n_frames}")
    order = np.random.default_rng(seed).permutation(n_frames)
    return np.sort(order[: n_frames // 2]), np.sort(order[n_frames // 2:])


def reconstruction_errors(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                          n_local: int = N_LOCAL) -> tuple[float, float]:
    """(GFRE, LFRE) of reconstructing the (n, d_y) latent ``y`` from the (n, d_x) ``x``.

    ``train``/``test``: frame indices; the LFRE uses ``min(n_local, len(train) // 4)``
    neighbours (at least 2); otherwise scikit-matter's defaults (see reconstruction).
    """
    with threadpool_limits(1):
        g = gfre(x, y, train, test)
        local = lfre(x, y, train, test, max(2, min(n_local, len(train) // 4)))
    return g, local


def latent_similarity(latents: dict[str, np.ndarray], *, seed: int = 0,
                      n_local: int = N_LOCAL) -> list[dict]:
    """GFRE, LFRE and linear CKA for every ordered pair of distinct latents.

    ``latents``: name → (n_frames, d) latent, all of the same frames in the same order.
    Returns rows with the keys of :data:`SIMILARITY_COLUMNS`: ``from`` reconstructs ``to``
    (``gfre``, ``lfre``: errors, 0 best), ``cka`` (symmetric, 1 best). The GFRE and LFRE
    fit on a seeded random half of the frames and are measured on the other half.
    """
    if len(latents) < 2:
        raise DataError(f"comparing latents needs at least two, got {len(latents)}")
    sizes = {name: len(x) for name, x in latents.items()}
    if len(set(sizes.values())) > 1:
        raise DataError(f"latents of different frames: {sizes}")
    for name, x in latents.items():
        _centred(x, name)  # finite, 2-D, not constant
    arrays = {name: np.asarray(x, dtype=np.float64) for name, x in latents.items()}
    train, test = halves(next(iter(sizes.values())), seed)
    rows = []
    for a, x in arrays.items():
        for b, y in arrays.items():
            if a == b:
                continue
            g, local = reconstruction_errors(x, y, train, test, n_local)
            rows.append({"from": a, "to": b, "gfre": g, "lfre": local,
                         "cka": linear_cka(x, y)})
    return rows


def similarity_matrix(rows: list[dict], column: str) -> tuple[list[str], np.ndarray]:
    """(names, (k, k) matrix of ``column``; row = from, column = to; NaN on the diagonal)."""
    names = list(dict.fromkeys([r["from"] for r in rows] + [r["to"] for r in rows]))
    index = {name: i for i, name in enumerate(names)}
    matrix = np.full((len(names), len(names)), np.nan)
    for r in rows:
        matrix[index[r["from"]], index[r["to"]]] = r[column]
    return names, matrix
