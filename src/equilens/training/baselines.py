"""Floors every model must beat: the mean predictor, ridge and kernel ridge on inverse distances.

Each floor is fitted on the training frames only and predicts the energy (kcal/mol) of
any frames of the same molecule (the mean predictor: of the same elements, see
:func:`mean_predictor`). The two regressions read the inverse interatomic
distances 1/r_ij of every atom pair, so they apply only when the training and target
frames share one atom list (an MD trajectory); otherwise they are None.

Kernel ridge regression (Gaussian or Laplacian kernel on standardised 1/r_ij, energies
standardised) takes its regularisation ``alpha`` and kernel width ``gamma`` from the
leave-one-out MAE on the training frames. That search (one eigendecomposition of the
n × n kernel per width) is most of a floor's cost; with a ``cache_dir`` its choice is kept
under a key hashed from the training features, energies, kernel and grids, so that every
run trained on the same frames (the models of one study seed) searches once and refits
the same model from the stored choice.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from equilens.data import Frames
from equilens.errors import ConfigError
from equilens.io import write_json

#: Names of the floors, as keys of test_metrics.json and of ``predictions/<split>.npz``.
FLOORS = ("mean_predictor", "ridge_inverse_distances", "kernel_ridge")
#: Kernels of :func:`fit_kernel_ridge` (scikit-learn names): Gaussian, Laplacian.
KERNELS = ("rbf", "laplacian")
#: Grids of the cross-validation; ``gamma`` in units of 1 / (number of atom pairs).
KRR_ALPHAS = np.logspace(-12, 0, 13)
KRR_GAMMAS = np.logspace(-3, 1, 9)
#: Bumped whenever the search changes, so that stored choices are not reused.
KRR_CACHE_VERSION = 1
#: Above this many training frames kernel ridge is not fitted (memory grows as n², time
#: as n³: one eigendecomposition of the n × n kernel per gamma).
KRR_MAX_TRAIN = 2000


def inverse_distances(frames: Frames) -> np.ndarray:
    """(n_frames, n_pairs) 1/r_ij (1/Å) of every atom pair i<j; frames must be uniform.

    On periodic frames r_ij is the minimum-image distance (the nearest periodic image of
    j, ``ase.geometry.find_mic``), so an atom wrapped across a face keeps its features.
    """
    pos = frames.positions_3d()
    i, j = np.triu_indices(pos.shape[1], k=1)
    vectors = pos[:, j] - pos[:, i]
    if frames.periodic:
        from ase.geometry import find_mic

        vectors = np.stack([find_mic(v, cell, pbc)[0] if pbc.any() else v
                            for v, cell, pbc in zip(vectors, frames.cell, frames.pbc)])
    return 1.0 / np.linalg.norm(vectors, axis=-1)


def same_atoms(train: Frames, target: Frames) -> bool:
    """True when both sets are uniform with the same atom list (1/r_ij features apply)."""
    return bool(train.uniform and target.uniform and len(train) and len(target)
                and np.array_equal(train.frame_numbers(0), target.frame_numbers(0)))


def element_counts(frames: Frames, elements: np.ndarray) -> np.ndarray:
    """(n_frames, n_elements) how many atoms of each of ``elements`` every frame holds."""
    frame_of_atom = np.repeat(np.arange(len(frames)), frames.n_atoms)
    column = np.searchsorted(elements, frames.numbers)
    counts = np.zeros((len(frames), len(elements)))
    np.add.at(counts, (frame_of_atom, column), 1.0)
    return counts


def mean_predictor(train: Frames, target: Frames) -> np.ndarray:
    """The training mean energy for every target frame (kcal/mol); on training frames of
    several compositions, the energy of per-element references fitted by least squares on
    the element counts (the mean per composition, so that a file of several molecules is
    not judged against the spread of its molecules' total energies)."""
    elements = np.unique(np.concatenate([train.numbers, target.numbers]))
    counts = element_counts(train, elements)
    if len(np.unique(counts, axis=0)) == 1:
        return np.full(len(target), train.energy.mean())
    weights, *_ = np.linalg.lstsq(counts, train.energy, rcond=None)
    return element_counts(target, elements) @ weights


def ridge_inverse_distances(train: Frames, target: Frames) -> np.ndarray | None:
    """Ridge regression (alpha by CV) of energy on inverse distances; None if frames differ."""
    if not same_atoms(train, target):
        return None
    return _fit_ridge(train).predict(inverse_distances(target))


def _fit_ridge(train: Frames) -> Pipeline:
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-6, 3, 19)))
    return model.fit(inverse_distances(train), train.energy)


@dataclass
class KernelRidgeFloor:
    """A fitted kernel ridge floor and the hyperparameters its cross-validation chose.

    Attributes:
        model: the fitted estimator; ``predict`` takes (n, n_pairs) 1/r_ij in 1/Å and
            returns (n,) energies in kcal/mol.
        kernel: "rbf" (Gaussian) or "laplacian".
        alpha: regularisation, on the standardised energies.
        gamma: kernel width, in 1/(standardised feature unit)² (rbf) or 1/unit (laplacian).
        cv_mae_kcal: the leave-one-out MAE of the chosen hyperparameters, kcal/mol.
        fit_time_s: wall time of the cross-validation and the final fit.
    """

    model: TransformedTargetRegressor
    kernel: str
    alpha: float
    gamma: float
    cv_mae_kcal: float
    fit_time_s: float

    def predict(self, target: Frames) -> np.ndarray:
        """(n_frames,) energies of ``target`` in kcal/mol."""
        return self.model.predict(inverse_distances(target))

    def hyperparameters(self) -> dict[str, float | str]:
        return {"kernel": self.kernel, "alpha": self.alpha, "gamma": self.gamma,
                "cv_mae_kcal": self.cv_mae_kcal}


def loo_mae(kernel: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Leave-one-out MAE of kernel ridge for every alpha, from one eigendecomposition.

    With K = V diag(λ) Vᵀ and H = K (K + αI)⁻¹, the leave-one-out residual of frame i
    is (y_i − ŷ_i) / (1 − H_ii) exactly (the hat-matrix identity of ridge regression).

    Args:
        kernel: (n, n) symmetric kernel matrix of the training frames.
        y: (n,) targets (here standardised energies).
        alphas: (m,) regularisations.

    Returns:
        (m,) mean absolute leave-one-out residual, in the unit of ``y``.
    """
    lam, vec = np.linalg.eigh(kernel)
    lam = np.clip(lam, 0.0, None)
    vty, vec2 = vec.T @ y, vec**2
    out = np.empty(len(alphas))
    for k, alpha in enumerate(alphas):
        residual = vec @ (alpha / (lam + alpha) * vty)  # y − ŷ
        one_minus_h = vec2 @ (alpha / (lam + alpha))  # 1 − H_ii, > 0, no cancellation
        out[k] = np.abs(residual / one_minus_h).mean()
    return out


def fit_kernel_ridge(train: Frames, kernel: str = "rbf",
                     cache_dir: str | Path | None = None) -> KernelRidgeFloor:
    """Kernel ridge of energy on standardised 1/r_ij, (alpha, gamma) by leave-one-out CV.

    Features and energies are standardised on the training frames; every (alpha, gamma)
    of :data:`KRR_ALPHAS` × :data:`KRR_GAMMAS` / n_pairs is scored by its exact
    leave-one-out MAE (:func:`loo_mae`), and the best pair refits scikit-learn's
    ``KernelRidge`` on all training frames. Deterministic. The training frames must be
    uniform (one molecule). ``cache_dir``: where the chosen pair is kept and looked up
    (see the module docstring), or None.
    """
    if kernel not in KERNELS:
        raise ConfigError(f"kernel '{kernel}' is not one of {', '.join(KERNELS)}")
    t0 = time.perf_counter()
    x = inverse_distances(train)
    path = (None if cache_dir is None
            else Path(cache_dir) / f"krr_{_krr_key(x, train.energy, kernel)}.json")
    choice = _read_choice(path)
    if choice is None:
        choice = _search(x, train.energy, kernel)
        if path is not None:
            write_json(path, choice)
    model = TransformedTargetRegressor(
        regressor=Pipeline([("scale", StandardScaler()),
                            ("krr", KernelRidge(alpha=choice["alpha"], kernel=kernel,
                                                gamma=choice["gamma"]))]),
        transformer=StandardScaler())
    model.fit(x, train.energy)
    return KernelRidgeFloor(model, kernel, choice["alpha"], choice["gamma"],
                            choice["cv_mae_kcal"], time.perf_counter() - t0)


def _search(x: np.ndarray, energy: np.ndarray, kernel: str) -> dict[str, float]:
    """The (alpha, gamma) of least leave-one-out MAE on (n, n_pairs) 1/r_ij and (n,)
    kcal/mol: ``{"alpha", "gamma", "cv_mae_kcal"}``."""
    from sklearn.metrics.pairwise import pairwise_kernels

    xs = StandardScaler().fit_transform(x)
    y_std = float(energy.std()) or 1.0
    ys = (energy - energy.mean()) / y_std
    gammas = KRR_GAMMAS / x.shape[1]
    scores = np.array([loo_mae(pairwise_kernels(xs, metric=kernel, gamma=g), ys, KRR_ALPHAS)
                       for g in gammas])
    i, j = np.unravel_index(np.argmin(scores), scores.shape)
    return {"alpha": float(KRR_ALPHAS[j]), "gamma": float(gammas[i]),
            "cv_mae_kcal": float(scores[i, j]) * y_std}


def _krr_key(x: np.ndarray, energy: np.ndarray, kernel: str) -> str:
    h = hashlib.sha256(f"v{KRR_CACHE_VERSION}|{kernel}|{x.shape}|".encode())
    for array in (x, energy, KRR_ALPHAS, KRR_GAMMAS):
        h.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return h.hexdigest()[:24]


def _read_choice(path: Path | None) -> dict[str, float] | None:
    """A stored choice, or None (no cache, no entry, or an unreadable one: searched again
    and overwritten)."""
    if path is None or not path.is_file():
        return None
    try:
        found = json.loads(path.read_text())
        choice = {k: float(found[k]) for k in ("alpha", "gamma", "cv_mae_kcal")}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return choice if all(np.isfinite(v) for v in choice.values()) else None


@dataclass
class Floors:
    """Every floor fitted once on a run's training frames; predicts any target frames.

    ``ridge`` and ``kernel_ridge`` are None when the training frames are not one
    molecule (or, for kernel ridge, hold more than :data:`KRR_MAX_TRAIN` frames).
    """

    train: Frames
    ridge: Pipeline | None = None
    kernel_ridge: KernelRidgeFloor | None = None

    @classmethod
    def fit(cls, train: Frames, cache_dir: str | Path | None = None) -> Floors:
        """Fit the floors on ``train`` (kernel ridge: a few seconds on 1000 frames, its
        search kept in ``cache_dir`` if given: see :func:`fit_kernel_ridge`)."""
        regressions = train.uniform and len(train) >= 2
        ridge = _fit_ridge(train) if regressions else None
        krr = (fit_kernel_ridge(train, cache_dir=cache_dir)
               if regressions and len(train) <= KRR_MAX_TRAIN else None)
        return cls(train, ridge, krr)

    def predict(self, target: Frames) -> dict[str, np.ndarray | None]:
        """{floor name: (n_frames,) kcal/mol, or None where the floor does not apply}."""
        applies = same_atoms(self.train, target)
        out: dict[str, np.ndarray | None] = {"mean_predictor": mean_predictor(self.train, target)}
        out["ridge_inverse_distances"] = (self.ridge.predict(inverse_distances(target))
                                          if applies and self.ridge is not None else None)
        out["kernel_ridge"] = (self.kernel_ridge.predict(target)
                               if applies and self.kernel_ridge is not None else None)
        return out
