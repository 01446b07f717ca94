"""Probes and repeated cross-validation on synthetic latents with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from equilens.analysis.descriptors import derive_variables
from equilens.analysis.probes import (
    kernel_ridge_predict,
    knn_predict,
    repeated_r2,
    repeated_splits,
    ridge_predict,
)
from equilens.analysis.targets import compute_targets, invariant_targets
from equilens.data import read_rmd17_npz
from equilens.errors import DataError


@pytest.fixture(scope="module")
def ethanol_values(rmd17_dir):
    frames = read_rmd17_npz(rmd17_dir / "rmd17_ethanol_test_01.npz")
    positions = frames.positions_3d()[:300]
    numbers = frames.frame_numbers(0)
    targets, _ = invariant_targets(derive_variables(numbers, positions[0]), numbers, positions)
    return compute_targets(targets, positions)


def test_latent_built_from_one_variable(ethanol_values):
    """A latent that is a linear image of one target (plus constant columns) scores that
    target near 1 and every other target near its squared correlation with it."""
    names = list(ethanol_values)
    y = np.column_stack([ethanol_values[n] for n in names])
    source = names.index("C0-O2")
    z = (y[:, source] - y[:, source].mean()) / y[:, source].std()
    rng = np.random.default_rng(0)
    latent = np.outer(z, rng.normal(size=16)) + rng.normal(size=16)  # rank one, offset
    latent = np.column_stack([latent, np.full(len(z), 3.0)])  # a constant column
    splits = repeated_splits(len(z), seed=3)
    ridge = repeated_r2(latent, y, ridge_predict, splits).mean(axis=0)
    kernel = repeated_r2(latent, y, kernel_ridge_predict, splits).mean(axis=0)
    corr2 = np.array([np.corrcoef(z, y[:, j])[0, 1] ** 2 for j in range(y.shape[1])])
    assert ridge[source] > 0.999 and kernel[source] > 0.99
    others = np.arange(len(names)) != source
    np.testing.assert_allclose(ridge[others], corr2[others], atol=0.05)
    assert (kernel[others] < corr2[others] + 0.15).all()
    assert corr2[others].max() > 0.05  # some targets do correlate with C0-O2


def test_kernel_probe_reads_a_nonlinear_function():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(300, 3))
    y = np.sin(3 * x[:, :1]) * np.cos(2 * x[:, 1:2])
    splits = repeated_splits(300, repeats=2, seed=0)
    assert repeated_r2(x, y, kernel_ridge_predict, splits).mean() > 0.95
    assert repeated_r2(x, y, ridge_predict, splits).mean() < 0.6
    assert repeated_r2(x, y, knn_predict, splits).mean() > 0.7


def test_repeats_differ_and_the_seed_reproduces_them():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 5))
    y = x[:, :1] + rng.normal(scale=1.0, size=(120, 1))
    a = repeated_r2(x, y, ridge_predict, repeated_splits(120, seed=7))
    b = repeated_r2(x, y, ridge_predict, repeated_splits(120, seed=7))
    c = repeated_r2(x, y, ridge_predict, repeated_splits(120, seed=8))
    assert a.shape == (5, 1)
    np.testing.assert_array_equal(a, b)
    assert a.std(ddof=1) > 1e-4  # the shuffles give a spread
    assert not np.array_equal(a, c)
    splits = repeated_splits(120, seed=7)
    for split in splits:  # every repeat is a partition of all frames
        assert np.array_equal(np.sort(np.concatenate([t for _, t in split])), np.arange(120))
    assert not np.array_equal(splits[0][0][1], splits[1][0][1])


def test_constant_features_score_zero_and_too_few_frames_is_an_error():
    y = np.arange(20.0)[:, None]
    splits = repeated_splits(20, repeats=1)
    assert (repeated_r2(np.ones((20, 3)), y, ridge_predict, splits) == 0).all()
    with pytest.raises(DataError, match="at least 10 frames"):
        repeated_splits(9)


@pytest.mark.parametrize("n,d,t", [(80, 5, 3), (400, 64, 10), (50, 128, 4), (300, 1, 1)])
def test_ridge_probe_is_scikit_learn_ridgecv(n, d, t):
    """The linear probe chooses the penalty and predicts as RidgeCV on standardised
    features (exact leave-one-out per target), with n > d and n < d."""
    from sklearn.linear_model import RidgeCV
    from sklearn.preprocessing import StandardScaler

    from equilens.analysis.scores import RIDGE_ALPHAS

    rng = np.random.default_rng(n + d)
    x = rng.normal(size=(n, d)) * rng.uniform(0.1, 10.0, size=d)
    y = x[:, :1] @ rng.normal(size=(1, t)) + rng.normal(size=(n, t)) * rng.uniform(0.01, 3, t)
    x_test = rng.normal(size=(20, d))
    scaler = StandardScaler().fit(x)
    ref = (RidgeCV(alphas=RIDGE_ALPHAS, alpha_per_target=True)
           .fit(scaler.transform(x), y).predict(scaler.transform(x_test)).reshape(20, t))
    np.testing.assert_allclose(ridge_predict(x, y, x_test), ref, atol=1e-8, rtol=0)
