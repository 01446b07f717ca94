"""The same probes for every representation, scored by repeated cross-validation.

Every representation (trained latent, random-weights latent, geometry control) is read by
the same three regressors, each fitted inside the training folds only:

* ``probe`` - linear: ``StandardScaler -> RidgeCV`` (penalty per target by leave-one-out);
* ``kernel`` - non-linear: the linear probe plus kernel ridge regression on its residuals,
  with an RBF kernel on the standardised features (Nyström form on :data:`LANDMARKS`
  training points), kernel width and penalty chosen per target by exact leave-one-out
  among :data:`KERNEL_GAMMAS` x :data:`KERNEL_ALPHAS`;
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

What is computed once per fold and shared (every score is still the one of that probe
fitted on its own, :func:`repeated_r2` with :data:`PROBES`, up to floating-point round-off):
:func:`joint_predict` standardises the features once, fits the linear probe once (its test
predictions are ``probe``'s, its training residuals what the kernel part fits) and computes
the squared distances between the standardised points once, training-training
(n_train, n_train: the kernel's median scale and landmark columns) and test-training
(n_test, n_train: the kernel's test-landmark columns and the ``knn_full`` neighbours).
:func:`repeated_r2_many` scores the predictions of one such pass over the folds,
:func:`probe_scores` every probe of a representation; the geometry control
(:mod:`~equilens.analysis.table`) makes one such pass per target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
from sklearn.model_selection import RepeatedKFold
from sklearn.neighbors import KNeighborsRegressor

from equilens.analysis.scores import RIDGE_ALPHAS, varying_columns
from equilens.errors import ConfigError, DataError

__all__ = ["FOLDS", "JOINT", "KERNEL_ALPHAS", "KERNEL_GAMMAS", "KNN_K", "LANDMARKS", "PROBES",
           "REPEATS", "joint_predict", "kernel_ridge_predict", "probe_scores", "repeated_r2",
           "repeated_r2_many", "repeated_splits"]

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
#: ``(x_train, y_train, x_test) -> {probe name: (n_test, t)}``: several probes of one fit.
JointPredictor = Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, np.ndarray]]


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


def _first_best(err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of ``err`` (n_choices, t): the smallest finite value and the first choice
    giving it (what a scan over the choices keeping strict improvements finds), or inf and
    -1 where no value is finite. Returns (t,), (t,)."""
    err = np.where(np.isnan(err), np.inf, err)
    choice = err.argmin(axis=0)
    best = err[choice, np.arange(err.shape[1])]
    return best, np.where(np.isfinite(best), choice, -1)


def _ridge(xs_train: np.ndarray, y_train: np.ndarray,
           xs_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The linear probe on standardised features (see :func:`ridge_predict`): (n_train, d),
    (n_train, t), (n_test, d) -> its predictions on the training points (n_train, t) and
    on the test points (n_test, t). The leave-one-out errors of every penalty at once."""
    x_mean, y_mean = xs_train.mean(axis=0), y_train.mean(axis=0)
    xc, yc = xs_train - x_mean, y_train - y_mean
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    uty = u.T @ yc  # (r, t)
    shrink = s[:, None] ** 2 / (s[:, None] ** 2 + RIDGE_ALPHAS)  # (r, n_alphas)
    h_diag = 1.0 / len(yc) + (u**2) @ shrink  # (n_train, n_alphas)
    fitted = (u @ (shrink[:, :, None] * uty[:, None, :]).reshape(len(s), -1)).reshape(
        len(yc), len(RIDGE_ALPHAS), -1)  # (n_train, n_alphas, t)
    loo = (((yc[:, None, :] - fitted) / (1.0 - h_diag)[:, :, None]) ** 2).mean(axis=0)
    choice = _first_best(loo)[1]
    chosen = np.where(choice >= 0, RIDGE_ALPHAS[choice], 0.0)
    coef = vt.T @ ((s[:, None] / (s[:, None] ** 2 + chosen[None, :])) * uty)  # (d, t)
    return xc @ coef + y_mean, (xs_test - x_mean) @ coef + y_mean


def ridge_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Linear probe: (n_train, d), (n_train, t), (n_test, d) -> (n_test, t).

    Ridge regression with an unpenalised intercept on standardised features, the penalty
    chosen per target among :data:`RIDGE_ALPHAS` by exact leave-one-out error (the choice
    and the predictions of scikit-learn's ``RidgeCV(alpha_per_target=True)``, without its
    per-call overhead). With the centred features X = U S Vᵀ and penalty a, the hat matrix
    is H = 11ᵀ/n + U diag(s²/(s²+a)) Uᵀ and the leave-one-out residual of sample i is
    (y_i − (Hy)_i) / (1 − H_ii).
    """
    xs_train, xs_test = _standardise(x_train, x_test)
    return _ridge(xs_train, y_train.reshape(len(y_train), -1), xs_test)[1]


def knn_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *,
                k: int = KNN_K, standardize: bool = True) -> np.ndarray:
    """Uniform k-nearest-neighbour mean: (n_train, d), (n_train, t), (n_test, d) -> (n_test, t)."""
    if standardize:
        x_train, x_test = _standardise(x_train, x_test)
    model = KNeighborsRegressor(n_neighbors=min(k, len(x_train))).fit(x_train, y_train)
    return model.predict(x_test).reshape(len(x_test), -1)


def _knn_from_distances(d_test: np.ndarray, y_train: np.ndarray, k: int = KNN_K) -> np.ndarray:
    """:func:`knn_predict` from the squared distances test-training (n_test, n_train) and
    y_train (n_train, t) -> (n_test, t) (the same neighbours, up to exact ties in distance)."""
    k = min(k, d_test.shape[1])
    return y_train[np.argpartition(d_test, k - 1, axis=1)[:, :k]].mean(axis=1)


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared distances between the rows of a (n, d) and b (m, d), clamped at 0: (n, m),
    as |a|² + |b|² − 2 a·b (two (n, m) arrays, the rest in place)."""
    d = np.add.outer((a**2).sum(1), (b**2).sum(1))
    ab = a @ b.T
    ab *= 2.0
    d -= ab
    return np.maximum(d, 0.0, out=d)


@lru_cache(maxsize=8)
def _landmarks(n: int) -> np.ndarray:
    """Indices of the Nyström landmarks among n training points: min(LANDMARKS, n) evenly
    spaced ones."""
    out = np.linspace(0, n - 1, min(LANDMARKS, n)).astype(int)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=8)
def _upper_pairs(n: int) -> np.ndarray:
    """Flat indices of the entries i < j of an (n, n) matrix, row by row."""
    out = np.flatnonzero(np.triu(np.ones((n, n), dtype=bool), 1))
    out.setflags(write=False)
    return out


def _median_distance(d_train: np.ndarray) -> float:
    """``np.median`` of the squared distances between distinct training points (the upper
    triangle of d_train (n, n)), from one partition of a copy: the middle value, or for an
    even count the mean of the two middle ones, the lower being the largest value below."""
    pairs = np.take(d_train, _upper_pairs(len(d_train)))
    if not len(pairs):
        return float("nan")
    half = len(pairs) // 2
    pairs.partition(half)
    if len(pairs) % 2:
        return float(pairs[half])
    return float((pairs[:half].max() + pairs[half]) / 2)


def _nystroem(landmarks: np.ndarray, d_land: np.ndarray, d_test: np.ndarray,
              gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Nyström features of exp(−γ|x − x'|²) on landmark points: Φ with Φ Φᵀ ≈ K, from the
    squared distances training points-landmarks (n_train, m) (the rows ``landmarks`` are the
    landmarks-landmarks block) and test points-landmarks (n_test, m)
    -> (n_train, r), (n_test, r), r <= m."""
    k_land = np.exp(-gamma * d_land)
    lam, vec = np.linalg.eigh(k_land[landmarks])
    keep = lam > _FLOOR * lam.max()
    whiten = vec[:, keep] / np.sqrt(lam[keep])
    return k_land @ whiten, np.exp(-gamma * d_test) @ whiten


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


def _kernel_loo(p: np.ndarray, sv: np.ndarray, proj: np.ndarray,
                resid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per target, the smallest exact leave-one-out error over :data:`KERNEL_ALPHAS` and
    its penalty (the first of equal ones; inf where none is finite), all penalties at once:
    p (n, r), sv (r,), proj = pᵀ resid (r, t), resid (n, t) -> (t,), (t,)."""
    shrink = sv[:, None] ** 2 / (sv[:, None] ** 2 + KERNEL_ALPHAS)  # (r, n_alphas)
    fitted = (p @ (shrink[:, :, None] * proj[:, None, :]).reshape(len(sv), -1)).reshape(
        len(p), len(KERNEL_ALPHAS), -1)  # (n, n_alphas, t)
    h_diag = (p**2) @ shrink  # (n, n_alphas)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = (((resid[:, None, :] - fitted) / (1.0 - h_diag)[:, :, None]) ** 2).mean(axis=0)
    best, choice = _first_best(err)
    return best, KERNEL_ALPHAS[np.maximum(choice, 0)]


def _kernel_part(d_train: np.ndarray, d_test: np.ndarray, resid: np.ndarray) -> np.ndarray:
    """The kernel part of :func:`kernel_ridge_predict` from squared distances between
    standardised points: training-training d_train (n_train, n_train), test-landmarks
    d_test (n_test, m), and the linear probe's training residuals resid (n_train, t)
    -> its predictions (n_test, t)."""
    scale = _median_distance(d_train) or 1.0
    landmarks = _landmarks(len(d_train))
    d_land = d_train[:, landmarks]
    best = np.full(resid.shape[1], np.inf)
    out = np.zeros((len(d_test), resid.shape[1]))
    for g in KERNEL_GAMMAS:  # strict improvements only: the first (width, penalty) wins ties
        phi, phi_test = _nystroem(landmarks, d_land, d_test, g / scale)
        p, sv, qt = _thin_svd(phi)
        proj = p.T @ resid  # (r, t)
        err, alpha = _kernel_loo(p, sv, proj, resid)
        better = err < best
        if better.any():
            best[better] = err[better]
            coef = qt.T @ ((sv[:, None] / (sv[:, None] ** 2 + alpha[better])) * proj[:, better])
            out[:, better] = phi_test @ coef
    return out


def joint_predict(x_train: np.ndarray, y_train: np.ndarray,
                  x_test: np.ndarray) -> dict[str, np.ndarray]:
    """The probes of :data:`JOINT` from one standardisation, one linear fit and one set of
    distances (module docstring): (n_train, d), (n_train, t), (n_test, d)
    -> ``{probe: (n_test, t)}``, the predictions of :func:`ridge_predict`,
    :func:`kernel_ridge_predict` and :func:`knn_predict`."""
    xs_train, xs_test = _standardise(x_train, x_test)
    y_train = y_train.reshape(len(y_train), -1)
    linear_train, linear_test = _ridge(xs_train, y_train, xs_test)
    d_test = _sq_dists(xs_test, xs_train)
    kernel = _kernel_part(_sq_dists(xs_train, xs_train), d_test[:, _landmarks(len(xs_train))],
                          y_train - linear_train)
    return {"probe": linear_test, "kernel": kernel + linear_test,
            "knn_full": _knn_from_distances(d_test, y_train)}


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
    return joint_predict(x_train, y_train, x_test)["kernel"]


def _r2_columns(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    ss_res = ((y - pred) ** 2).sum(axis=0)
    ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    return 1.0 - ss_res / ss_tot


def repeated_r2_many(features: np.ndarray, y: np.ndarray, predict: JointPredictor,
                     splits: list[Split], names: Sequence[str]) -> dict[str, np.ndarray]:
    """:func:`repeated_r2` of several predictions from one pass over the folds:
    ``{name: (n_repeats, t)}``, ``predict`` returning ``{name: (n_test, t)}`` for every one
    of ``names`` (for instance :func:`joint_predict` and :data:`JOINT`)."""
    features = varying_columns(np.asarray(features, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if features.shape[1] == 0:
        return {name: np.zeros((len(splits), y.shape[1])) for name in names}
    pred = {name: np.zeros((len(splits),) + y.shape) for name in names}
    for r, split in enumerate(splits):
        for train, test in split:
            fold = predict(features[train], y[train], features[test])
            for name in names:
                pred[name][r, test] = fold[name]
    return {name: np.array([_r2_columns(y, p) for p in pred[name]]) for name in names}


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
    return repeated_r2_many(features, y, lambda *fold: {"": predict(*fold)}, splits, [""])[""]


def probe_scores(features: np.ndarray, coords: np.ndarray, y: np.ndarray,
                 splits: list[Split]) -> dict[str, np.ndarray]:
    """Every probe of :data:`PROBES` on one representation: ``{probe: (n_repeats, t)}``,
    :func:`repeated_r2` of features (n, d) and y (n, t) (``knn_2d``: of the projection
    coords (n, 2)), the probes of :data:`JOINT` from one pass over the folds."""
    out = repeated_r2_many(features, y, joint_predict, splits, JOINT)
    out["knn_2d"] = repeated_r2(coords, y, PROBES["knn_2d"], splits)
    return {name: out[name] for name in PROBES}


#: The probes of every representation: name -> predictor (``knn_2d`` is ``knn`` on
#: projection coordinates without standardising).
PROBES: dict[str, Predictor] = {
    "probe": ridge_predict,
    "kernel": kernel_ridge_predict,
    "knn_full": knn_predict,
    "knn_2d": lambda a, b, c: knn_predict(a, b, c, standardize=False),
}
#: The probes that :func:`joint_predict` fits together (the others read other features).
JOINT: tuple[str, ...] = ("probe", "kernel", "knn_full")
