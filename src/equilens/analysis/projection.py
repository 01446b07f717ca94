"""2-D projections of a latent representation (t-SNE, PCA, optional UMAP)."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from equilens.analysis.scores import varying_columns
from equilens.errors import ConfigError, DataError

__all__ = ["PROJECTION_METHODS", "project"]

#: Methods accepted by :func:`project`.
PROJECTION_METHODS: tuple[str, ...] = ("tsne", "pca", "umap")

_MIN_SAMPLES = 5


def _standardised(latent: np.ndarray) -> np.ndarray:
    latent = np.asarray(latent, dtype=np.float64)
    if latent.ndim != 2:
        raise DataError(f"latent must be 2-D (n, d), got shape {latent.shape}")
    if latent.shape[0] < _MIN_SAMPLES:
        raise DataError(
            f"a projection needs at least {_MIN_SAMPLES} samples, got {latent.shape[0]}"
        )
    if not np.all(np.isfinite(latent)):
        raise DataError("latent contains non-finite values (NaN or inf)")
    features = varying_columns(latent)
    if features.shape[1] == 0:
        raise DataError(
            f"latent {latent.shape} has no varying column; there is nothing to project"
        )
    return StandardScaler().fit_transform(features)


def _tsne(x: np.ndarray, seed: int, perplexity: float, n_jobs: int) -> np.ndarray:
    from openTSNE import TSNE

    n = x.shape[0]
    tsne = TSNE(
        n_components=2,
        perplexity=min(float(perplexity), (n - 1) / 3.0),
        random_state=seed,
        n_jobs=n_jobs,
        initialization="pca",
        verbose=False,
    )
    return np.array(tsne.fit(x), dtype=np.float64)


def _pca(x: np.ndarray, seed: int) -> np.ndarray:
    n_components = min(2, x.shape[1])
    coords = PCA(n_components=n_components, svd_solver="full", random_state=seed).fit_transform(x)
    if n_components == 1:  # a single varying column: the second axis is flat
        coords = np.column_stack([coords[:, 0], np.zeros(x.shape[0])])
    return np.asarray(coords, dtype=np.float64)


def _umap(x: np.ndarray, seed: int) -> np.ndarray:
    try:
        import umap
    except ImportError as exc:
        raise ConfigError(
            "projection method 'umap' needs the umap-learn package: "
            "install equilens[umap], or use 'tsne' or 'pca'"
        ) from exc
    reducer = umap.UMAP(
        n_components=2, n_neighbors=min(15, x.shape[0] - 1), random_state=seed
    )
    return np.asarray(reducer.fit_transform(x), dtype=np.float64)


def project(
    latent: np.ndarray,
    method: str = "tsne",
    *,
    seed: int = 0,
    perplexity: float = 30.0,
    n_jobs: int = 1,
) -> np.ndarray:
    """Project a latent representation to 2-D.

    The latent is standardised first (constant columns dropped, each remaining column
    scaled to zero mean and unit variance), so no single latent unit dominates.

    Args:
        latent: (n, d) representation, n >= 5.
        method: ``"tsne"`` (openTSNE, PCA initialisation, perplexity capped at
            (n - 1) / 3), ``"pca"`` (scikit-learn) or ``"umap"`` (needs the
            ``equilens[umap]`` extra).
        seed: random seed; the same seed and inputs give the same coordinates.
        perplexity: t-SNE perplexity (ignored by other methods).
        n_jobs: threads used by t-SNE.

    Returns:
        (n, 2) float64 coordinates (no unit).

    Raises:
        ValueError: unknown method, missing umap, bad shape, fewer than 5 samples,
            non-finite values, or no varying latent column.
    """
    if method not in PROJECTION_METHODS:
        raise ConfigError(
            f"unknown projection method {method!r}; allowed: {', '.join(PROJECTION_METHODS)}"
        )
    if not np.isfinite(perplexity) or perplexity <= 0:
        raise ConfigError(f"perplexity must be a positive number, got {perplexity!r}")
    if not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ConfigError(f"n_jobs must be a non-zero integer (-1 = all cores), got {n_jobs!r}")
    x = _standardised(latent)
    if method == "tsne":
        return _tsne(x, seed, perplexity, int(n_jobs))
    if method == "pca":
        return _pca(x, seed)
    return _umap(x, seed)
