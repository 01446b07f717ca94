"""Latent similarity: linear CKA against its HSIC definition, GFRE/LFRE on latents whose
relation is known, and the rows of latent_similarity."""

from __future__ import annotations

import numpy as np
import pytest

from equilens.analysis.similarity import (
    SIMILARITY_COLUMNS,
    halves,
    latent_similarity,
    linear_cka,
    similarity_matrix,
)
from equilens.errors import DataError


def _hsic_cka(x: np.ndarray, y: np.ndarray) -> float:
    """CKA from the n x n kernels, as in Kornblith et al. (2019), eq. 3 with linear kernels."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = x @ x.T, y @ y.T

    def hsic(a: np.ndarray, b: np.ndarray) -> float:
        return np.trace(a @ h @ b @ h) / (n - 1) ** 2

    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))


@pytest.fixture
def latents() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)) + 3.0
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    return {"x": x, "rotated": 2.5 * x @ rotation + 1.0,
            "linear": x @ rng.normal(size=(6, 3)), "noise": rng.normal(size=(120, 5))}


def test_linear_cka_is_the_hsic_ratio_and_invariant_to_rotation_and_scale(latents):
    x, noise = latents["x"], latents["noise"]
    assert linear_cka(x, noise) == pytest.approx(_hsic_cka(x, noise), rel=1e-10)
    assert linear_cka(x, latents["linear"]) == pytest.approx(_hsic_cka(x, latents["linear"]), rel=1e-10)
    assert linear_cka(x, latents["rotated"]) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, noise) == pytest.approx(linear_cka(noise, x), rel=1e-12)
    assert linear_cka(x, noise) < 0.2


def test_reconstruction_errors_see_which_latent_determines_which(latents):
    rows = latent_similarity(latents, seed=1)
    assert all(list(r) == SIMILARITY_COLUMNS for r in rows)
    assert len(rows) == 4 * 3 and not any(r["from"] == r["to"] for r in rows)
    by = {(r["from"], r["to"]): r for r in rows}
    assert by["x", "rotated"]["gfre"] < 0.05 and by["x", "linear"]["gfre"] < 0.05
    assert by["x", "linear"]["lfre"] < 0.1
    # three columns do not determine six; noise determines nothing
    assert by["linear", "x"]["gfre"] > 0.3
    assert by["noise", "x"]["gfre"] > 0.8 and by["x", "noise"]["gfre"] > 0.8
    names, gfre = similarity_matrix(rows, "gfre")
    assert names == list(latents) and np.isnan(np.diag(gfre)).all()
    assert gfre[names.index("x"), names.index("noise")] == by["x", "noise"]["gfre"]


def test_bad_latents_are_refused(latents):
    with pytest.raises(DataError, match="at least two"):
        latent_similarity({"x": latents["x"]})
    with pytest.raises(DataError, match="different frames"):
        latent_similarity({"x": latents["x"], "y": latents["noise"][:50]})
    with pytest.raises(DataError, match="same for every frame"):
        latent_similarity({"x": latents["x"], "flat": np.ones((120, 3))})
    bad = latents["x"].copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataError, match="finite"):
        linear_cka(bad, latents["x"])
    with pytest.raises(DataError, match="at least 4 frames"):
        halves(3)
