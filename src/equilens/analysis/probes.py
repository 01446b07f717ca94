"""The same probes for every representation, scored by repeated cross-validation.

Every representation (trained latent, random-weights latent, geometry control) is read by
the same three regressors, each fitted inside the training folds only:

* ``probe`` - linear: ``StandardScaler -> RidgeCV`` (penalty per target by leave-one-out);
* ``kernel`` - non-linear: kernel ridge regression with an RBF kernel on the standardised
  features, kernel width and penalty chosen per target by exact leave-one-out among
  :data:`KERNEL_GAMMAS` x :data:`KERNEL_ALPHAS`;
* ``knn`` - the mean of the k nearest neighbours (the colour gradient of a projection,
  as a number; on 2-D coordinates without standardising, which keeps neighbourhoods).

Why kernel ridge for the non-linear probe, and not kNN: on a few hundred frames in 16-128
dimensions, a fixed-k neighbour average is biased by every direction of the latent that
does not carry the target (it weights them all equally), so its R² mixes "is the target
encoded" with "is the latent low-dimensional". Kernel ridge with an RBF kernel fits any
smooth function, its penalty shrinks it towards the mean where the data say nothing, and
both hyperparameters are chosen per target by exact leave-one-out on the training fold
(one eigendecomposition per width), so the same procedure adapts to a latent whose energy
is an exact linear map (egnn's head) and to one read through a per-atom MLP (gcn). kNN
stays as ``knn_full`` and ``knn_2d``, the readings of the post's pictures.

Scores: R² of the out-of-fold predictions of one K-fold split, per target column; the split
is repeated with different shuffles (``RepeatedKFold(folds, repeats, seed)``), giving one R²
per repeat: :func:`repeated_r2` returns them all, (n_repeats, n_targets).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import RepeatedKFold
from sklearn.neighbors import KNeighborsRegressor
from sklearn.preprocessing import StandardScaler

from equilens.analysis.scores import RIDGE_ALPHAS, varying_columns
from equilens.errors import ConfigError, DataError

__all__ = ["FOLDS", "KERNEL_ALPHAS", "KERNEL_GAMMAS", "KNN_K", "PROBES", "REPEATS",
           "kernel_ridge_predict", "repeated_r2", "repeated_splits"]

FOLDS: int = 5
REPEATS: int = 5
KNN_K: int = 10
#: RBF widths, as multiples of 1 / (median squared distance between training points).
KERNEL_GAMMAS: tuple[float, ...] = (0.01, 0.1, 1.0)
#: Kernel ridge penalties (the kernel's diagonal is 1).
KERNEL_ALPHAS: np.ndarray = np.logspace(-6, 1, 8)

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
    scaler = StandardScaler().fit(train)
    return scaler.transform(train), scaler.transform(test)


def ridge_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Linear probe: (n_train, d), (n_train, t), (n_test, d) -> (n_test, t)."""
    x_train, x_test = _standardise(x_train, x_test)
    model = RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True).fit(x_train, y_train)
    return model.predict(x_test).reshape(len(x_test), -1)


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


def kernel_ridge_predict(x_train: np.ndarray, y_train: np.ndarray,
                         x_test: np.ndarray) -> np.ndarray:
    """RBF kernel ridge, width and penalty per target by exact leave-one-out.

    For K = V diag(λ) Vᵀ and penalty a, the hat matrix is H = V diag(λ/(λ+a)) Vᵀ and the
    leave-one-out residual of sample i is (y_i − (Hy)_i) / (1 − H_ii) (y centred on the
    training mean). Shapes: (n_train, d), (n_train, t), (n_test, d) -> (n_test, t).
    """
    x_train, x_test = _standardise(x_train, x_test)
    mean = y_train.mean(axis=0)
    yc = y_train - mean
    d_train = _sq_dists(x_train, x_train)
    scale = np.median(d_train[np.triu_indices(len(x_train), 1)]) or 1.0
    best = np.full(yc.shape[1], np.inf)
    out = np.zeros((len(x_test), yc.shape[1]))
    for g in KERNEL_GAMMAS:
        lam, vec = np.linalg.eigh(np.exp(-(g / scale) * d_train))
        lam = np.maximum(lam, 0.0)
        proj = vec.T @ yc  # (n, t)
        k_test = np.exp(-(g / scale) * _sq_dists(x_test, x_train))
        for a in KERNEL_ALPHAS:
            shrink = lam / (lam + a)
            fitted = vec @ (shrink[:, None] * proj)
            h_diag = (vec**2) @ shrink
            with np.errstate(divide="ignore", invalid="ignore"):
                err = (((yc - fitted) / (1.0 - h_diag)[:, None]) ** 2).mean(axis=0)
            err = np.where(np.isfinite(err), err, np.inf)
            better = err < best
            if better.any():
                best[better] = err[better]
                coef = vec @ (proj[:, better] / (lam + a)[:, None])
                out[:, better] = k_test @ coef
    return out + mean


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
