"""The same probes for every representation, scored by repeated cross-validation.

Every representation (trained latent, random-weights latent, geometry control) is read by
the same three regressors, each fitted inside the training folds only:

* ``probe`` - linear: ``StandardScaler -> RidgeCV`` (penalty per target by leave-one-out);
* ``kernel`` - non-linear: kernel ridge regression with an RBF kernel on the standardised
  features (Nyström form on :data:`LANDMARKS` training points), kernel width and penalty
  chosen per target by exact leave-one-out among :data:`KERNEL_GAMMAS` x
  :data:`KERNEL_ALPHAS`;
* ``knn`` - the mean of the k nearest neighbours (the colour gradient of a projection,
  as a number; on 2-D coordinates without standardising, which keeps neighbourhoods).

Why kernel ridge for the non-linear probe, and not kNN: on a few hundred frames in 16-128
dimensions, a fixed-k neighbour average is biased by every direction of the latent that
does not carry the target (it weights them all equally), so its R² mixes "is the target
encoded" with "is the latent low-dimensional". Kernel ridge with an RBF kernel fits any
smooth function, its penalty shrinks it towards the mean where the data say nothing, and
both hyperparameters are chosen per target by exact leave-one-out on the training fold
(one SVD per width), so the same procedure adapts to a latent whose energy
is an exact linear map (egnn's head) and to one read through a per-atom MLP (gcn). kNN
stays as ``knn_full`` and ``knn_2d``, the readings of the post's pictures.

Scores: R² of the out-of-fold predictions of one K-fold split, per target column; the split
is repeated with different shuffles (``RepeatedKFold(folds, repeats, seed)``), giving one R²
per repeat: :func:`repeated_r2` returns them all, (n_repeats, n_targets).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.model_selection import RepeatedKFold
from sklearn.neighbors import KNeighborsRegressor

from equilens.analysis.scores import RIDGE_ALPHAS, varying_columns
from equilens.errors import ConfigError, DataError

__all__ = ["FOLDS", "KERNEL_ALPHAS", "KERNEL_GAMMAS", "KNN_K", "LANDMARKS", "PROBES", "REPEATS",
           "kernel_ridge_predict", "repeated_r2", "repeated_splits"]

FOLDS: int = 5
REPEATS: int = 5
KNN_K: int = 10
#: RBF widths, as multiples of 1 / (median squared distance between training points).
KERNEL_GAMMAS: tuple[float, ...] = (0.01, 0.1, 1.0)
#: Kernel ridge penalties (the kernel's diagonal is 1).
KERNEL_ALPHAS: np.ndarray = np.logspace(-4, 2, 7)
#: Training points that carry the kernel (Nyström landmarks).
LANDMARKS: int = 100
#: Nyström directions with a kernel eigenvalue below this fraction of the largest are dropped.
_FLOOR: float = 1e-8
#: Directions of Φ with s² below this fraction of the largest are dropped (see _thin_svd).
_GRAM_FLOOR: float = 1e-12

Split = list[tuple[np.ndarray, np.ndarray]]
Predictor = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def repeated_splits(n: int, *, folds: int = FOLDS, repeats: int = REPEATS,
                    seed: int = 0) -> list[Split]:
    """``repeats`` K-fold partitions of ``n`` samples, each a list of (train, test) indices."""
    if not isinstance(folds, int) or folds < 2 or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"cross-validation needs folds >= 2 and repeats >= 1, "
                          f"got {folds} and {repeats}")
    if n < 2 * folds:
        raise DataError(f"{folds}-fold cross-validation needs at least {2 * folds} frames, "
                        f"got {n}")
    pairs = list(RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
                 .split(np.zeros((n, 1))))
    return [pairs[r * folds:(r + 1) * folds] for r in range(repeats)]


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets scaled by the training set's mean and std (ddof 0; a constant column by 1),
    as scikit-learn's ``StandardScaler``."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std < 10 * np.finfo(np.float64).eps, 1.0, std)
    return (train - mean) / std, (test - mean) / std


def ridge_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Linear probe: (n_train, d), (n_train, t), (n_test, d) -> (n_test, t).

    Ridge regression with an unpenalised intercept on standardised features, the penalty
    chosen per target among :data:`RIDGE_ALPHAS` by exact leave-one-out error (the choice
    and the predictions of scikit-learn's ``RidgeCV(alpha_per_target=True)``, without its
    per-call overhead). With the centred features X = U S Vᵀ and penalty a, the hat matrix
    is H = 11ᵀ/n + U diag(s²/(s²+a)) Uᵀ and the leave-one-out residual of sample i is
    (y_i − (Hy)_i) / (1 − H_ii).
    """
    x_train, x_test = _standardise(x_train, x_test)
    y_train = y_train.reshape(len(y_train), -1)
    x_mean, y_mean = x_train.mean(axis=0), y_train.mean(axis=0)
    yc = y_train - y_mean
    u, s, vt = np.linalg.svd(x_train - x_mean, full_matrices=False)
    uty = u.T @ yc  # (r, t)
    best = np.full(yc.shape[1], np.inf)
    chosen = np.zeros(yc.shape[1])
    for a in RIDGE_ALPHAS:
        shrink = s**2 / (s**2 + a)
        h_diag = 1.0 / len(yc) + (u**2) @ shrink
        loo = (((yc - u @ (shrink[:, None] * uty)) / (1.0 - h_diag)[:, None]) ** 2).mean(axis=0)
        better = loo < best
        best[better], chosen[better] = loo[better], a
    coef = vt.T @ ((s[:, None] / (s[:, None] ** 2 + chosen[None, :])) * uty)  # (d, t)
    return (x_test - x_mean) @ coef + y_mean


def knn_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *,
                k: int = KNN_K, standardize: bool = True) -> np.ndarray:
    """Uniform k-nearest-neighbour mean: (n_train, d), (n_train, t), (n_test, d) -> (n_test, t)."""
    if standardize:
        x_train, x_test = _standardise(x_train, x_test)
    model = KNeighborsRegressor(n_neighbors=min(k, len(x_train))).fit(x_train, y_train)
    return model.predict(x_test).reshape(len(x_test), -1)


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def _nystroem(d_centres: np.ndarray, d_train: np.ndarray, d_test: np.ndarray,
              gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Nyström features of exp(−γ|x − x'|²) on landmark points: Φ with Φ Φᵀ ≈ K, from the
    squared distances landmarks-landmarks (m, m), training points-landmarks (n_train, m) and
    test points-landmarks (n_test, m) -> (n_train, r), (n_test, r), r <= m."""
    lam, vec = np.linalg.eigh(np.exp(-gamma * d_centres))
    keep = lam > _FLOOR * lam.max()
    whiten = vec[:, keep] / np.sqrt(lam[keep])
    return np.exp(-gamma * d_train) @ whiten, np.exp(-gamma * d_test) @ whiten


def _thin_svd(phi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Φ = P diag(s) Qᵀ for a tall Φ (n, r), from the eigenvectors of the small r x r
    matrix ΦᵀΦ (faster than an SVD of Φ at these sizes). Directions with s² below
    :data:`_GRAM_FLOOR` of the largest are dropped: the largest is at most n (the trace
    of the kernel), so their shrinkage s²/(s² + a) is below n·1e-8 for every penalty a
    in :data:`KERNEL_ALPHAS`."""
    lam, q = np.linalg.eigh(phi.T @ phi)
    keep = lam > _GRAM_FLOOR * lam.max()
    sv = np.sqrt(lam[keep])
    return (phi @ q[:, keep]) / sv, sv, q[:, keep].T


def kernel_ridge_predict(x_train: np.ndarray, y_train: np.ndarray,
                         x_test: np.ndarray) -> np.ndarray:
    """The linear probe plus RBF kernel ridge on its residuals, width and penalty per target
    by exact leave-one-out: y ≈ ridge(x) + f(x), f in the kernel's function space.

    Fitting the kernel part on what the linear probe leaves keeps the non-linear probe at
    least as good as the linear one where the data hold no more (leave-one-out then picks
    the largest penalty, f ≈ 0) and lets an RBF kernel, which is local, spend its capacity
    on the non-linear part.
    The kernel is exp(−γ|x − x'|²) on standardised features with γ = g / (median squared
    distance between training points), g in :data:`KERNEL_GAMMAS`, in its Nyström form
    K ≈ Φ Φᵀ on :data:`LANDMARKS` evenly spaced training points (exact when the training
    fold is that small). With the SVD Φ = P S Qᵀ and penalty a, the hat matrix is
    H = P diag(s²/(s²+a)) Pᵀ and the leave-one-out residual of sample i is
    (y_i − (Hy)_i) / (1 − H_ii) (y: the linear probe's training residuals).
    Shapes: (n_train, d), (n_train, t), (n_test, d) -> (n_test, t).
    """
    both = ridge_predict(x_train, y_train, np.concatenate([x_train, x_test]))
    linear_train, linear_test = both[:len(x_train)], both[len(x_train):]
    x_train, x_test = _standardise(x_train, x_test)
    yc = y_train - linear_train  # the kernel part fits what the linear probe leaves
    d_train = _sq_dists(x_train, x_train)
    scale = np.median(d_train[np.triu_indices(len(x_train), 1)]) or 1.0
    landmarks = np.linspace(0, len(x_train) - 1, min(LANDMARKS, len(x_train))).astype(int)
    d_land = d_train[:, landmarks]
    d_test = _sq_dists(x_test, x_train[landmarks])
    best = np.full(yc.shape[1], np.inf)
    out = np.zeros((len(x_test), yc.shape[1]))
    for g in KERNEL_GAMMAS:
        phi, phi_test = _nystroem(d_land[landmarks], d_land, d_test, g / scale)
        p, sv, qt = _thin_svd(phi)
        proj = p.T @ yc  # (r, t)
        for a in KERNEL_ALPHAS:
            shrink = sv**2 / (sv**2 + a)
            fitted = p @ (shrink[:, None] * proj)
            h_diag = (p**2) @ shrink
            with np.errstate(divide="ignore", invalid="ignore"):
                err = (((yc - fitted) / (1.0 - h_diag)[:, None]) ** 2).mean(axis=0)
            err = np.where(np.isfinite(err), err, np.inf)
            better = err < best
            if better.any():
                best[better] = err[better]
                coef = qt.T @ ((sv / (sv**2 + a))[:, None] * proj[:, better])
                out[:, better] = phi_test @ coef
    return out + linear_test


def _r2_columns(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    ss_res = ((y - pred) ** 2).sum(axis=0)
    ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    return 1.0 - ss_res / ss_tot


def repeated_r2(features: np.ndarray, y: np.ndarray, predict: Predictor,
                splits: list[Split]) -> np.ndarray:
    """R² of out-of-fold predictions, per repeat and target column: (n_repeats, t).

    Args:
        features: (n, d) representation; columns constant over all n are dropped; with
            none left, every R² is 0.0 (the mean's).
        y: (n, t) targets, each varying.
        predict: ``(x_train, y_train, x_test) -> (n_test, t)``.
        splits: from :func:`repeated_splits`.
    """
    features = varying_columns(np.asarray(features, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if features.shape[1] == 0:
        return np.zeros((len(splits), y.shape[1]))
    scores = []
    for split in splits:
        pred = np.zeros_like(y)
        for train, test in split:
            pred[test] = predict(features[train], y[train], features[test])
        scores.append(_r2_columns(y, pred))
    return np.array(scores)


#: The probes of every representation: name -> predictor (``knn_2d`` is ``knn`` on
#: projection coordinates without standardising).
PROBES: dict[str, Predictor] = {
    "probe": ridge_predict,
    "kernel": kernel_ridge_predict,
    "knn_full": knn_predict,
    "knn_2d": lambda a, b, c: knn_predict(a, b, c, standardize=False),
}
