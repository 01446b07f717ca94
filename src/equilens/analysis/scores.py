"""How well a representation encodes a target variable.

Three scores, all cross-validated with ``KFold(cv, shuffle=True, random_state=seed)``
and reported as R² of the out-of-fold predictions (1 = perfect, 0 = no better than
the mean, negative = worse than the mean):

* :func:`r2_probe` - linear probe (ridge regression) on the full latent;
* :func:`r2_knn` on the full latent - does the target vary smoothly among nearest
  neighbours in latent space;
* :func:`r2_knn` on 2-D projection coordinates - would the colour gradient of a
  scatter plot look smooth.

A target is (n,) or (n, k); for (n, k) targets the score is the mean R² over the columns
that vary. The analysis pipeline scores its targets with :mod:`.probes` (repeated
cross-validation); these single-split scores are the building blocks it shares.

Constant latent columns carry no information and are dropped before standardising;
when no column varies, the R² scores are reported as exactly 0.0 (the score of the
best constant predictor, the mean).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.manifold import trustworthiness as _sk_trustworthiness
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from equilens.errors import ConfigError, DataError

__all__ = [
    "RIDGE_ALPHAS",
    "r2_knn",
    "r2_probe",
    "trustworthiness",
    "varying_columns",
]

#: Ridge penalties searched by :func:`r2_probe` (on standardised features).
RIDGE_ALPHAS: np.ndarray = np.logspace(-6, 3, 19)


def varying_columns(features: np.ndarray) -> np.ndarray:
    """(n, d) -> (n, d') with the constant columns removed (d' may be 0).

    A column counts as constant when its standard deviation is at most
    ``1e-12 * (1 + |mean|)``, so float round-off on a constant does not count as signal.
    """
    std = features.std(axis=0)
    scale = 1.0 + np.abs(features.mean(axis=0))
    return features[:, std > 1e-12 * scale]


def _as_features(features: np.ndarray, what: str) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        hint = " (use x.reshape(-1, 1) for a single feature)" if features.ndim == 1 else ""
        raise DataError(f"{what} must be 2-D (n, d), got shape {features.shape}{hint}")
    if not np.all(np.isfinite(features)):
        raise DataError(f"{what} contain non-finite values (NaN or inf)")
    return features


def _as_target(target: np.ndarray, name: str) -> np.ndarray:
    """(n,) or (n, k) -> (n, k') float64 with only the columns that vary."""
    target = np.asarray(target, dtype=np.float64)
    if target.ndim not in (1, 2):
        raise DataError(f"target {name!r} must be (n,) or (n, k), got shape {target.shape}")
    if not np.all(np.isfinite(target)):
        raise DataError(f"target {name!r} contains non-finite values (NaN or inf)")
    target = target.reshape(target.shape[0], -1)
    varying = varying_columns(target)
    if varying.shape[1] == 0:
        raise DataError(f"target {name!r} has zero variance; nothing to score")
    return varying


def _check_n(n_features: int, n_target: int, cv: int, name: str, what: str) -> None:
    if not isinstance(cv, (int, np.integer)) or cv < 2:
        raise ConfigError(f"cv must be an integer >= 2, got {cv!r}")
    if n_features != n_target:
        raise DataError(
            f"{what} has {n_features} samples but target {name!r} has {n_target}; "
            "they must match"
        )
    if n_features < 2 * cv:
        raise DataError(
            f"{cv}-fold cross-validation needs at least {2 * cv} samples, got {n_features}"
        )


def _kfold(cv: int, seed: int) -> KFold:
    return KFold(n_splits=int(cv), shuffle=True, random_state=seed)


def _r2(target: np.ndarray, predicted: np.ndarray) -> float:
    return float(r2_score(target, predicted, multioutput="uniform_average"))


def r2_probe(
    features: np.ndarray,
    target: np.ndarray,
    *,
    seed: int = 0,
    cv: int = 5,
    name: str = "target",
) -> float:
    """Cross-validated R² of a linear (ridge) probe from features to target.

    Args:
        features: (n, d) representation, any unit.
        target: (n,) or (n, k) values to predict .
        seed: seed of the fold shuffle.
        cv: number of folds.
        name: target name used in error messages.

    Returns:
        R² of the out-of-fold predictions of ``StandardScaler -> RidgeCV`` (penalty
        chosen per target column among :data:`RIDGE_ALPHAS` by leave-one-out inside
        each training fold); mean over columns for (n, k). 0.0 when no feature varies.
    """
    features = _as_features(features, "features")
    target = _as_target(target, name)
    _check_n(features.shape[0], target.shape[0], cv, name, "features")
    features = varying_columns(features)
    if features.shape[1] == 0:
        return 0.0
    return _r2(target, _probe_predictions(features, target, seed, cv))


def _probe_predictions(features: np.ndarray, target: np.ndarray, seed: int, cv: int) -> np.ndarray:
    """Out-of-fold ridge predictions, (n, k) for (n, k) targets, one fit per fold for all."""
    model = make_pipeline(
        StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True)
    )
    y = target[:, 0] if target.shape[1] == 1 else target
    return cross_val_predict(model, features, y, cv=_kfold(cv, seed)).reshape(target.shape)


def r2_knn(
    features: np.ndarray,
    target: np.ndarray,
    *,
    k: int = 10,
    seed: int = 0,
    cv: int = 5,
    standardize: bool,
    name: str = "target",
) -> float:
    """Cross-validated R² of a k-nearest-neighbour regression from features to target.

    Neighbours are weighted uniformly: the prediction is the plain mean over the k
    nearest points, which is what the eye averages when reading a colour gradient.
    (Distance weighting lets a single very close neighbour dominate, which rewards
    near-duplicate frames rather than a smooth trend.)

    Args:
        features: (n, d) representation, any unit.
        target: (n,) or (n, k) values to predict.
        k: number of neighbours.
        seed: seed of the fold shuffle.
        cv: number of folds.
        standardize: True for a latent (each column scaled to unit variance inside
            each training fold); False for 2-D projection coordinates, whose axes
            share one scale - they are then only centred and divided by one common
            factor, which leaves neighbourhoods unchanged.
        name: target name used in error messages.

    Returns:
        R² of the out-of-fold predictions; mean over columns for (n, k). 0.0 when no
        feature varies.
    """
    features = _as_features(features, "features")
    target = _as_target(target, name)
    _check_n(features.shape[0], target.shape[0], cv, name, "features")
    _check_k(k, features.shape[0], cv)
    features = varying_columns(features)
    if features.shape[1] == 0:
        return 0.0
    return _r2(target, _knn_predictions(features, target, k, seed, cv, standardize))


def _check_k(k: int, n: int, cv: int) -> None:
    n_train = n - -(-n // cv)  # smallest training fold
    if not isinstance(k, (int, np.integer)) or k < 1 or k > n_train:
        raise ConfigError(
            f"k must be an integer in 1..{n_train} (the smallest training fold), got {k!r}"
        )


def _knn_predictions(features: np.ndarray, target: np.ndarray, k: int, seed: int, cv: int,
                     standardize: bool) -> np.ndarray:
    """Out-of-fold kNN predictions of every target column; one neighbour search per fold."""
    knn = KNeighborsRegressor(n_neighbors=int(k), weights="uniform")
    if standardize:
        model: Any = make_pipeline(StandardScaler(), knn)
    else:
        centred = features - features.mean(axis=0)
        features = centred / np.sqrt(np.mean(centred**2))
        model = knn
    y = target[:, 0] if target.shape[1] == 1 else target
    return cross_val_predict(model, features, y, cv=_kfold(cv, seed)).reshape(target.shape)


def trustworthiness(latent: np.ndarray, coords2d: np.ndarray, n_neighbors: int = 10) -> float:
    """How far the 2-D neighbourhoods are true latent neighbourhoods, in [0, 1].

    ``sklearn.manifold.trustworthiness`` between the standardised latent (constant
    columns dropped) and ``coords2d``; 1 means no point appears among a 2-D
    neighbourhood without being a latent neighbour.

    Args:
        latent: (n, d) representation.
        coords2d: (n, 2) projection.
        n_neighbors: neighbourhood size, below n / 2.
    """
    latent = _as_features(latent, "latent")
    coords2d = _as_features(coords2d, "coords2d")
    n = latent.shape[0]
    if coords2d.shape != (n, 2):
        raise DataError(
            f"coords2d must have shape (n, 2) = ({n}, 2) to match latent, got {coords2d.shape}"
        )
    if not isinstance(n_neighbors, (int, np.integer)) or not 1 <= n_neighbors < n / 2:
        raise ConfigError(
            f"n_neighbors must be an integer in 1..{int(np.ceil(n / 2)) - 1} for "
            f"{n} samples, got {n_neighbors!r}"
        )
    features = varying_columns(latent)
    if features.shape[1] == 0:
        raise DataError("latent has no varying column; trustworthiness is undefined")
    features = StandardScaler().fit_transform(features)
    return float(_sk_trustworthiness(features, coords2d, n_neighbors=int(n_neighbors)))
