"""Global and local feature reconstruction errors (GFRE, LFRE), as scikit-matter computes them.

Goscinski, Fraux, Imbalzano and Ceriotti, "The role of feature space in atomistic
learning", Mach. Learn.: Sci. Technol. 2, 025028 (2021). For latents X (n, d_x) and Y
(n, d_y) of the same frames, split into training and test frames:

1. X and Y are each centred and divided by the square root of their total variance on the
   training frames (scikit-matter's ``StandardFlexibleScaler``), so that reconstructing Y
   by its mean gives an error of about 1;
2. a linear map X → Y is fitted on the training frames by least squares with singular
   values of X below ``alpha · s_max`` cut off, ``alpha`` chosen among 20 values from 1e-9
   to 0.9 (geometric) by 2-fold cross-validation on the training frames, scored by the
   mean over Y's columns of the RMSE (scikit-matter's ``Ridge2FoldCV`` with relative
   alphas, ``cutoff`` regularisation, folds shuffled with seed 0x5F3759DF);
3. GFRE = sqrt(mean over test frames of ‖y - ŷ‖²).

The LFRE does the same around each test frame: the map is fitted on its ``n_local``
nearest training frames in X, centred on their means. This module follows scikit-matter
0.4's ``skmatter.metrics.global_reconstruction_error`` and ``local_reconstruction_error``
step by step (a test checks the two agree where scikit-matter is installed), without
depending on it: every scikit-matter release pins a scikit-learn older than this
project's.
"""

from __future__ import annotations

import numpy as np

from equilens.errors import DataError

#: Relative cut-offs searched by the 2-fold cross-validation.
ALPHAS = np.geomspace(1e-9, 0.9, 20)
#: Seed of the 2-fold split (scikit-matter's default).
CV_SEED = 0x5F3759DF


def flexible_scale(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """``train`` and ``others`` minus the training column means, divided by the square root
    of the training frames' total variance (summed over columns)."""
    mean = train.mean(axis=0)
    total = float(((train - mean) ** 2).mean(axis=0).sum())
    if total <= 1e-12 * (1.0 + abs(float(mean.mean()))):
        raise DataError("a latent is the same on every training frame: nothing to reconstruct")
    scale = np.sqrt(total)
    return [(a - mean) / scale for a in (train, *others)]


def _two_folds(n: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's ``KFold(2, shuffle=True, random_state=CV_SEED)``, first split."""
    order = np.arange(n)
    np.random.RandomState(CV_SEED).shuffle(order)
    test = np.zeros(n, dtype=bool)
    test[order[: n // 2 + n % 2]] = True
    return np.flatnonzero(~test), np.flatnonzero(test)


def _cutoff_solve(u, s, vt, y, cut: float, n: int) -> np.ndarray:
    """(d_x, d_y) least-squares map keeping the ``min(n, #(s > cut))`` largest singular values."""
    k = min(n, int((s > cut).sum()))
    return (vt.T[:, :k] / s[:k]) @ (u.T[:k] @ y)


def _rmse(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean over columns of each column's RMSE (scikit-learn's uniform average)."""
    return float(np.sqrt(((y - pred) ** 2).mean(axis=0)).mean())


def fit_linear_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(d_x, d_y) map W with y ≈ x W: singular-value cut-off chosen by 2-fold CV (see top)."""
    rcond = max(x.shape) * np.spacing(x.dtype.type(1))
    fold1, fold2 = _two_folds(len(x))
    svd1 = np.linalg.svd(x[fold1], full_matrices=False)
    svd2 = np.linalg.svd(x[fold2], full_matrices=False)
    n1, n2 = int((svd1[1] > rcond).sum()), int((svd2[1] > rcond).sum())
    scaled = ALPHAS * max(svd1[1].max(), svd2[1].max())
    losses = [(_rmse(y[fold2], x[fold2] @ _cutoff_solve(*svd1, y[fold1], a, n1))
               + _rmse(y[fold1], x[fold1] @ _cutoff_solve(*svd2, y[fold2], a, n2))) / 2
              for a in scaled]
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    return _cutoff_solve(u, s, vt, y, scaled[int(np.argmin(losses))], len(s))


def _split(x, y, train, test):
    x_train, x_test = flexible_scale(x[train], x[test])
    y_train, y_test = flexible_scale(y[train], y[test])
    return x_train, x_test, y_train, y_test


def gfre(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """GFRE of reconstructing (n, d_y) ``y`` from (n, d_x) ``x``; ``train``/``test``: frame indices."""
    x_train, x_test, y_train, y_test = _split(x, y, train, test)
    error = y_test - x_test @ fit_linear_map(x_train, y_train)
    return float(np.linalg.norm(np.linalg.norm(error, axis=1)) / np.sqrt(len(test)))


def lfre(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
         n_local: int) -> float:
    """LFRE: as :func:`gfre`, a map per test frame fitted on its ``n_local`` nearest
    training frames in (scaled) X, centred on their means."""
    x_train, x_test, y_train, y_test = _split(x, y, train, test)
    if not 2 <= n_local <= len(train):
        raise DataError(f"n_local must lie in 2..{len(train)}, got {n_local}")
    sq = (x_train**2).sum(axis=1) + (x_test**2).sum(axis=1)[:, None] - 2 * x_test @ x_train.T
    errors = []
    for i in range(len(test)):
        near = np.argsort(sq[i])[:n_local]
        x_mean, y_mean = x_train[near].mean(axis=0), y_train[near].mean(axis=0)
        w = fit_linear_map(x_train[near] - x_mean, y_train[near] - y_mean)
        errors.append(np.linalg.norm(y_test[i] - y_mean - (x_test[i] - x_mean) @ w))
    return float(np.linalg.norm(errors) / np.sqrt(len(test)))
