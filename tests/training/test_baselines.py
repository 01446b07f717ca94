"""The floors: mean predictor, ridge and kernel ridge on inverse distances."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics.pairwise import rbf_kernel

from equilens.data import split_rmd17
from equilens.errors import ConfigError
from equilens.training.baselines import (
    KRR_ALPHAS,
    KRR_GAMMAS,
    Floors,
    fit_kernel_ridge,
    inverse_distances,
    loo_mae,
    mean_predictor,
    ridge_inverse_distances,
)


@pytest.fixture(scope="module")
def ethanol(rmd17_dir):
    return split_rmd17("ethanol", data_dir=rmd17_dir, n_train=200, n_val=10, n_test=100, seed=0)


def test_loo_mae_equals_refitting_without_each_frame():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(25, 4))
    y = np.sin(x).sum(axis=1) + 0.1 * rng.normal(size=25)
    gamma, alphas = 0.3, np.array([1e-3, 1e-1, 1.0])
    fast = loo_mae(rbf_kernel(x, gamma=gamma), y, alphas)
    for k, alpha in enumerate(alphas):
        residuals = []
        for i in range(len(y)):
            keep = np.arange(len(y)) != i
            model = KernelRidge(alpha=alpha, kernel="rbf", gamma=gamma).fit(x[keep], y[keep])
            residuals.append(y[i] - model.predict(x[i : i + 1])[0])
        assert fast[k] == pytest.approx(np.abs(residuals).mean(), rel=1e-7)


def test_kernel_ridge_is_a_real_floor(ethanol):
    """Fitted on the training frames only, it beats ridge and the mean predictor on the
    test frames of ethanol; its hyperparameters come from the grid; it is deterministic."""
    floor = fit_kernel_ridge(ethanol.train)
    test = ethanol.test
    mae = {"krr": np.abs(floor.predict(test) - test.energy).mean(),
           "ridge": np.abs(ridge_inverse_distances(ethanol.train, test) - test.energy).mean(),
           "mean": np.abs(mean_predictor(ethanol.train, test) - test.energy).mean()}
    assert mae["krr"] < mae["ridge"] < mae["mean"]
    n_pairs = inverse_distances(test).shape[1]
    assert floor.alpha in KRR_ALPHAS
    assert floor.gamma * n_pairs == pytest.approx(KRR_GAMMAS[np.argmin(
        np.abs(KRR_GAMMAS - floor.gamma * n_pairs))])
    assert 0 < floor.cv_mae_kcal < 3 * mae["krr"]
    again = fit_kernel_ridge(ethanol.train)
    assert (again.alpha, again.gamma) == (floor.alpha, floor.gamma)
    np.testing.assert_array_equal(again.predict(test), floor.predict(test))
    assert floor.hyperparameters() == {"kernel": "rbf", "alpha": floor.alpha,
                                       "gamma": floor.gamma, "cv_mae_kcal": floor.cv_mae_kcal}


def test_laplacian_kernel_and_unknown_kernel(ethanol):
    floor = fit_kernel_ridge(ethanol.train, "laplacian")
    assert floor.kernel == "laplacian"
    mae = np.abs(floor.predict(ethanol.test) - ethanol.test.energy).mean()
    assert mae < np.abs(ethanol.train.energy.mean() - ethanol.test.energy).mean()
    with pytest.raises(ConfigError, match="kernel 'cosine' is not one of rbf, laplacian"):
        fit_kernel_ridge(ethanol.train, "cosine")


def test_floors_fit_once_predict_any_frames(ethanol, rmd17_dir):
    floors = Floors.fit(ethanol.train)
    pred = floors.predict(ethanol.test)
    assert set(pred) == {"mean_predictor", "ridge_inverse_distances", "kernel_ridge"}
    np.testing.assert_allclose(pred["ridge_inverse_distances"],
                               ridge_inverse_distances(ethanol.train, ethanol.test), rtol=1e-12)
    np.testing.assert_array_equal(pred["kernel_ridge"], floors.kernel_ridge.predict(ethanol.test))
    # Frames of another molecule: only the mean predictor applies.
    uracil = split_rmd17("uracil", data_dir=rmd17_dir, n_train=5, n_val=5, n_test=5, seed=0)
    other = floors.predict(uracil.test)
    assert other["ridge_inverse_distances"] is None and other["kernel_ridge"] is None
    assert other["mean_predictor"].shape == (5,)


def test_inverse_distances_of_periodic_frames_use_the_nearest_image(emt_file):
    """A wrapped atom keeps its features: 1/r of the minimum-image distance (ASE's)."""
    from ase.io import read

    from equilens.data import read_ase
    from equilens.training.baselines import inverse_distances

    frames = read_ase(emt_file).subset(np.array([0, 5]))
    features = inverse_distances(frames)
    atoms = read(emt_file, index=5)
    i, j = np.triu_indices(len(atoms), k=1)
    expected = 1.0 / atoms.get_all_distances(mic=True)[i, j]
    np.testing.assert_allclose(features[1], expected, rtol=1e-12)
    assert features[1].max() < 1 / 2.0  # no pair closer than 2 Å: the nearest images


def test_mean_predictor_on_several_compositions_is_per_element(rmd17_dir):
    """Frames of two molecules: the floor predicts each molecule's own training mean (the
    per-element least-squares fit on counts), not the mean over both molecules; on one
    molecule it is exactly the training mean."""
    from equilens.data import read_rmd17_npz
    from equilens.data.frames import concat
    from equilens.training.baselines import mean_predictor

    eth = read_rmd17_npz(rmd17_dir / "rmd17_ethanol_test_01.npz").subset(np.arange(60))
    tol = read_rmd17_npz(rmd17_dir / "rmd17_toluene_test_01.npz").subset(np.arange(60))
    train = concat([eth.subset(np.arange(40)), tol.subset(np.arange(40))])
    test = concat([eth.subset(np.arange(40, 60)), tol.subset(np.arange(40, 60))])
    pred = mean_predictor(train, test)
    np.testing.assert_allclose(pred[:20], eth.energy[:40].mean(), rtol=1e-9)
    np.testing.assert_allclose(pred[20:], tol.energy[:40].mean(), rtol=1e-9)
    one = mean_predictor(eth.subset(np.arange(40)), eth.subset(np.arange(40, 60)))
    assert (one == eth.energy[:40].mean()).all()


def test_kernel_ridge_search_is_kept_and_reused(ethanol, tmp_path, monkeypatch):
    """With a cache folder the (alpha, gamma) search runs once per training set: a second
    fit on the same frames reads the stored choice and gives the same model; other frames
    search again; an unreadable entry is searched again and overwritten."""
    from equilens.training import baselines

    first = fit_kernel_ridge(ethanol.train, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("krr_*.json")
    monkeypatch.setattr(baselines, "loo_mae", lambda *a: pytest.fail("searched again"))
    again = Floors.fit(ethanol.train, cache_dir=tmp_path).kernel_ridge
    assert (again.alpha, again.gamma, again.cv_mae_kcal) == (
        first.alpha, first.gamma, first.cv_mae_kcal)
    np.testing.assert_array_equal(again.predict(ethanol.test), first.predict(ethanol.test))
    monkeypatch.undo()
    other = fit_kernel_ridge(ethanol.test, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("krr_*.json"))) == 2
    entry.write_text("{not json")
    redone = fit_kernel_ridge(ethanol.train, cache_dir=tmp_path)
    assert (redone.alpha, redone.gamma) == (first.alpha, first.gamma)
    assert '"alpha"' in entry.read_text() and other.alpha in KRR_ALPHAS
