"""Scores on synthetic data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from equilens.analysis.scores import (
    r2_knn,
    r2_probe,
    trustworthiness,
)

N = 300


@pytest.fixture
def linear_case() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    target = rng.normal(1.2, 0.05, N)  # e.g. a bond length in Å
    mixing = rng.normal(size=(1, 16))
    latent = (target[:, None] - 1.2) * mixing * 40.0 + 1e-3 * rng.normal(size=(N, 16))
    return latent, target


def test_probe_recovers_linear_target(linear_case):
    latent, target = linear_case
    assert r2_probe(latent, target) > 0.99


def test_probe_on_shuffled_latent_is_near_zero(linear_case):
    latent, target = linear_case
    shuffled = latent[np.random.default_rng(1).permutation(N)]
    score = r2_probe(shuffled, target)
    assert -0.5 < score < 0.1


def test_probe_is_seeded(linear_case):
    latent, target = linear_case
    noisy = latent + np.random.default_rng(3).normal(size=latent.shape) * 5.0
    assert r2_probe(noisy, target, seed=4) == r2_probe(noisy, target, seed=4)


def test_knn_2d_follows_a_gradient():
    rng = np.random.default_rng(0)
    target = rng.uniform(0.0, 1.0, N)
    coords = np.column_stack([target * 50.0, rng.uniform(0.0, 50.0, N)])
    good = r2_knn(coords, target, standardize=False)
    assert good > 0.8
    swapped = r2_knn(coords[:, ::-1], rng.uniform(0.0, 1.0, N), standardize=False)
    assert swapped < 0.1


def test_knn_2d_is_isotropic():
    # Along x the target varies; y is pure noise with a much larger spread. Per-axis
    # standardisation would shrink the noise axis and inflate the score; the 2-D
    # score must judge the plot as drawn, where neighbours are mostly along y.
    rng = np.random.default_rng(0)
    target = rng.uniform(0.0, 1.0, N)
    coords = np.column_stack([target, rng.uniform(0.0, 100.0, N)])
    isotropic = r2_knn(coords, target, standardize=False)
    per_axis = r2_knn(coords, target, standardize=True)
    assert isotropic < 0.1 and per_axis > 0.9
    # unchanged by a common rescaling and shift of both axes
    assert r2_knn(coords * 7.0 + 3.0, target, standardize=False) == pytest.approx(isotropic)


def test_zero_variance_target_named():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(50, 4))
    with pytest.raises(ValueError, match="target 'C0-C1' has zero variance"):
        r2_probe(latent, np.ones(50), name="C0-C1")
    with pytest.raises(ValueError, match="target 'target' has zero variance"):
        r2_probe(latent, np.full(50, 2.0))


def test_constant_latent_columns(linear_case):
    latent, target = linear_case
    padded = np.column_stack([np.full(N, 3.0), latent, np.zeros(N)])
    assert r2_probe(padded, target) == pytest.approx(r2_probe(latent, target))
    assert r2_knn(padded, target, standardize=True) == pytest.approx(
        r2_knn(latent, target, standardize=True)
    )
    constant = np.ones((N, 5))
    assert r2_probe(constant, target) == 0.0
    assert r2_knn(constant, target, standardize=True) == 0.0


def test_input_validation(linear_case):
    latent, target = linear_case
    with pytest.raises(ValueError, match="features has 300 samples but target 'target' has 299"):
        r2_probe(latent, target[:-1])
    with pytest.raises(ValueError, match="needs at least 10 samples, got 9"):
        r2_probe(latent[:9], target[:9])
    bad = latent.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="non-finite"):
        r2_probe(bad, target)
    with pytest.raises(ValueError, match="non-finite"):
        r2_knn(latent, np.where(np.arange(N) == 3, np.nan, target), standardize=True)
    with pytest.raises(ValueError, match="k must be an integer in 1..240"):
        r2_knn(latent, target, k=500, standardize=True)


def test_trustworthiness(linear_case):
    latent, _ = linear_case
    rng = np.random.default_rng(0)
    spread = rng.normal(size=(N, 2))
    latent = np.column_stack([spread, spread[:, 0] - spread[:, 1], np.ones(N)])
    good = trustworthiness(latent, spread)
    bad = trustworthiness(latent, rng.normal(size=(N, 2)))
    assert good > 0.95 and bad < 0.7
    with pytest.raises(ValueError, match="n_neighbors must be an integer in 1..149"):
        trustworthiness(latent, spread, n_neighbors=150)
