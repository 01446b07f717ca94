"""Probes and repeated cross-validation on synthetic latents with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from equilens.analysis.descriptors import derive_variables
from equilens.analysis.probes import (
    JOINT,
    KERNEL_ALPHAS,
    KERNEL_GAMMAS,
    LANDMARKS,
    PROBES,
    joint_predict,
    kernel_ridge_predict,
    knn_predict,
    probe_scores,
    repeated_r2,
    repeated_r2_many,
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


def _kernel_reference(x_train, y_train, x_test):
    """kernel_ridge_predict written plainly: one (width, penalty) after the other, np.median,
    an eigendecomposition per step, the linear probe fitted on its own."""
    linear_train = ridge_predict(x_train, y_train, x_train)
    linear_test = ridge_predict(x_train, y_train, x_test)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std = np.where(std < 10 * np.finfo(np.float64).eps, 1.0, std)
    xs, xt = (x_train - mean) / std, (x_test - mean) / std
    resid = y_train - linear_train
    d_train = ((xs[:, None, :] - xs[None, :, :]) ** 2).sum(-1)
    scale = np.median(d_train[np.triu_indices(len(xs), 1)]) or 1.0
    landmarks = np.linspace(0, len(xs) - 1, min(LANDMARKS, len(xs))).astype(int)
    d_test = ((xt[:, None, :] - xs[None, landmarks, :]) ** 2).sum(-1)
    best, out = np.full(resid.shape[1], np.inf), np.zeros((len(xt), resid.shape[1]))
    for g in KERNEL_GAMMAS:
        lam, vec = np.linalg.eigh(np.exp(-g / scale * d_train[np.ix_(landmarks, landmarks)]))
        keep = lam > 1e-8 * lam.max()
        whiten = vec[:, keep] / np.sqrt(lam[keep])
        phi, phi_test = np.exp(-g / scale * d_train[:, landmarks]) @ whiten, np.exp(
            -g / scale * d_test) @ whiten
        lam, q = np.linalg.eigh(phi.T @ phi)
        keep = lam > 1e-12 * lam.max()
        sv, q = np.sqrt(lam[keep]), q[:, keep]
        p = phi @ q / sv
        for a in KERNEL_ALPHAS:
            shrink = sv**2 / (sv**2 + a)
            h_diag = (p**2) @ shrink
            err = (((resid - p @ (shrink[:, None] * (p.T @ resid))) / (1 - h_diag)[:, None]) ** 2
                   ).mean(axis=0)
            for j in np.flatnonzero(err < best):
                best[j] = err[j]
                out[:, j] = phi_test @ (q @ (sv / (sv**2 + a) * (p.T @ resid[:, j])))
    return out + linear_test


@pytest.mark.parametrize("n,d,t", [(120, 3, 2), (300, 12, 3), (150, 1, 1)])
def test_joint_fit_is_each_probe_and_the_plain_kernel_scan(n, d, t):
    """joint_predict gives the linear probe, the kernel probe as one (width, penalty) after
    the other would, and the k nearest neighbours' mean."""
    rng = np.random.default_rng(n + d)
    x = rng.normal(size=(n + 30, d)) * rng.uniform(0.5, 5.0, size=d)
    y = np.sin(x[:, :1] @ rng.normal(size=(1, t))) + 0.1 * rng.normal(size=(n + 30, t))
    joint = joint_predict(x[:n], y[:n], x[n:])
    assert list(joint) == list(JOINT)
    np.testing.assert_allclose(joint["kernel"], _kernel_reference(x[:n], y[:n], x[n:]),
                               atol=1e-9, rtol=0)
    np.testing.assert_array_equal(joint["kernel"], kernel_ridge_predict(x[:n], y[:n], x[n:]))
    for name in ("probe", "knn_full"):
        np.testing.assert_allclose(joint[name], PROBES[name](x[:n], y[:n], x[n:]),
                                   atol=1e-12, rtol=0)


def _problem(n: int = 120):
    """Columns: five inputs on different scales and offsets, two functions of them, one
    constant; and for each column the columns it is predicted from."""
    rng = np.random.default_rng(5)
    z = rng.normal(size=(n, 5)) * [1.0, 3.0, 0.2, 10.0, 1.0] + [0.0, 5.0, -2.0, 100.0, 0.0]
    x = np.column_stack([z, np.sin(z[:, 0]) + 0.1 * z[:, 1] ** 2, z[:, 2] * z[:, 3],
                         np.full(n, 7.0)])
    sources = [[1, 2, 3, 4, 5, 6, 7], [7], [0, 4], [5], [0, 1, 2, 3, 4], [2, 3, 5]]
    return x, sources


def test_one_pass_per_target_gives_each_probe_on_its_own():
    """Targets whose features differ (a constant one among them): the probes fitted together
    in one pass over the folds score as each fitted alone with repeated_r2."""
    x, sources = _problem()
    splits = repeated_splits(len(x), folds=4, repeats=2, seed=1)
    for j, source in enumerate(sources):
        joint = repeated_r2_many(x[:, source], x[:, j:j + 1], joint_predict, splits, JOINT)
        for name in JOINT:
            alone = repeated_r2(x[:, source], x[:, j:j + 1], PROBES[name], splits)
            assert joint[name].shape == alone.shape == (2, 1)
            np.testing.assert_allclose(joint[name], alone, atol=1e-9, rtol=0,
                                       err_msg=f"{name} of column {j}")
        if source == [7]:  # nothing varies: the mean's 0.0
            assert all((joint[name] == 0.0).all() for name in JOINT)
    kernel = repeated_r2_many(x[:, :5], x[:, 5], joint_predict, splits, JOINT)["kernel"]
    assert kernel.min() > 0.9  # the non-linear column is read


def test_probe_scores_are_each_probe_on_its_own():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(90, 6))
    y = np.column_stack([np.cos(x[:, 0]) + x[:, 1] ** 2, x[:, 2] + 0.3 * rng.normal(size=90)])
    coords = x[:, :2] @ rng.normal(size=(2, 2))
    splits = repeated_splits(90, folds=3, repeats=2, seed=4)
    scores = probe_scores(x, coords, y, splits)
    assert list(scores) == list(PROBES)
    for name, fn in PROBES.items():
        alone = repeated_r2(coords if name == "knn_2d" else x, y, fn, splits)
        np.testing.assert_allclose(scores[name], alone, atol=1e-9, rtol=0)
