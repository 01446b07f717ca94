"""GFRE and LFRE: the same numbers as scikit-matter's, and the right answers where known."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from equilens.analysis.reconstruction import fit_linear_map, gfre, lfre
from equilens.errors import DataError


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(61, 7))
    y = np.tanh(x @ rng.normal(size=(7, 4))) + 0.1 * rng.normal(size=(61, 4))
    train = np.sort(rng.permutation(61)[:31])
    return x, y, train, np.setdiff1d(np.arange(61), train)


@pytest.mark.skipif(importlib.util.find_spec("skmatter") is None,
                    reason="scikit-matter not installed (pip install --no-deps skmatter==0.4.1; it pins an "
                    "older scikit-learn, so it is not a dependency)")
def test_gfre_and_lfre_are_scikit_matters(data):
    from skmatter.metrics import global_reconstruction_error, local_reconstruction_error

    x, y, train, test = data
    for a, b in ((x, y), (y, x)):
        assert gfre(a, b, train, test) == pytest.approx(
            global_reconstruction_error(a, b, train_idx=train, test_idx=test), rel=1e-10)
        assert lfre(a, b, train, test, 10) == pytest.approx(
            local_reconstruction_error(a, b, 10, train_idx=train, test_idx=test, n_jobs=1),
            rel=1e-10)


def test_known_answers(data):
    x, y, train, test = data
    w = np.random.default_rng(2).normal(size=(7, 3))
    assert gfre(x, x @ w + 5.0, train, test) < 1e-6  # a linear function of x
    assert lfre(x, x @ w, train, test, 20) < 1e-6
    np.testing.assert_allclose(fit_linear_map(x, x @ w), w, atol=1e-8)
    noise = np.random.default_rng(3).normal(size=(61, 3))
    assert gfre(x, noise, train, test) > 0.9  # nothing to reconstruct with: about 1
    assert 0.2 < gfre(x, y, train, test) < gfre(y[:, :1], x, train, test)
    with pytest.raises(DataError, match="same on every training frame"):
        gfre(np.ones((61, 2)), y, train, test)
    with pytest.raises(DataError, match="n_local"):
        lfre(x, y, train, test, 1)
