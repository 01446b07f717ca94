"""2-D projections of real ethanol frames."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from equilens.analysis.projection import PROJECTION_METHODS, project

N_FRAMES = 200


@pytest.fixture(scope="module")
def inverse_distances(rmd17_dir) -> np.ndarray:
    """(200, 36) inverse interatomic distances (1/Å) of ethanol frames."""
    with np.load(rmd17_dir / "rmd17_ethanol_train_01.npz") as data:
        coords = np.asarray(data["coords"][:N_FRAMES])
    iu = np.triu_indices(coords.shape[1], 1)
    distances = np.linalg.norm(coords[:, iu[0]] - coords[:, iu[1]], axis=-1)
    return 1.0 / distances


@pytest.mark.parametrize("method", ["tsne", "pca"])
def test_projection_shape_and_determinism(inverse_distances, method):
    first = project(inverse_distances, method, seed=3)
    second = project(inverse_distances, method, seed=3)
    assert first.shape == (N_FRAMES, 2)
    assert first.dtype == np.float64
    assert np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, second)
    assert first.std(axis=0).min() > 0  # not collapsed


def test_tsne_seed_changes_layout(inverse_distances):
    a = project(inverse_distances, "tsne", seed=0)
    b = project(inverse_distances, "tsne", seed=1)
    assert not np.array_equal(a, b)


def test_pca_matches_leading_components(inverse_distances):
    coords = project(inverse_distances, "pca")
    x = (inverse_distances - inverse_distances.mean(0)) / inverse_distances.std(0)
    variance = np.linalg.svd(x, compute_uv=False) ** 2 / N_FRAMES
    np.testing.assert_allclose(coords.var(axis=0), variance[:2], rtol=1e-8)


def test_constant_columns_and_small_n(inverse_distances):
    padded = np.column_stack([inverse_distances[:12], np.full(12, 7.0)])
    coords = project(padded, "tsne")  # perplexity capped to (12 - 1) / 3
    assert coords.shape == (12, 2)
    with pytest.raises(ValueError, match="at least 5 samples, got 4"):
        project(inverse_distances[:4], "pca")
    with pytest.raises(ValueError, match="no varying column"):
        project(np.ones((20, 3)), "pca")


def test_unknown_method_raises(inverse_distances):
    with pytest.raises(ValueError, match="unknown projection method 'mds'; allowed: tsne, pca, umap"):
        project(inverse_distances, "mds")
    assert PROJECTION_METHODS == ("tsne", "pca", "umap")


def test_umap_missing_says_how_to_install(inverse_distances, monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # import umap -> ImportError
    with pytest.raises(ValueError, match=r"install equilens\[umap\]"):
        project(inverse_distances, "umap")
