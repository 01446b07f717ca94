"""End to end: a tiny trained run → latents → scores, controls and figures."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
from e3nn import o3
from matplotlib.image import imread

from equilens.analysis import analyze_run, extract_latents, format_scores
from equilens.data import Frames, GraphDataset, keys
from equilens.training import load_config, load_trained, predict, train


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, rmd17_dir):
    config = load_config(overrides={
        "model": "egnn:channels=8,layers=2", "data.data_dir": str(rmd17_dir),
        "data.n_train": 40, "data.n_val": 120, "data.n_test": 10, "training.epochs": 2,
        "training.dtype": "float64"})
    run_dir = tmp_path_factory.mktemp("run") / "ethanol-egnn"
    train(config, run_dir, progress=False)
    return run_dir


def test_analyze_writes_scores_latents_and_figures(tiny_run, tmp_path):
    out = tmp_path / "analysis"
    analysis = analyze_run(tiny_run, method="pca", out=out, top_k=3)
    with open(out / "latent_scores.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {"target", "r2_probe", "r2_knn_2d", "r2_knn_full", "r2_probe_random",
            "r2_probe_geometry"} <= set(rows[0])
    names = [r["target"] for r in rows]
    assert names[0] == "energy"
    assert {"C0-C1", "C0-O2", "C1-C0-O2"} <= set(names)  # the post's three ethanol variables
    assert len(names) == 1 + 8 + 13 + 12  # energy + ethanol's bonds, angles, dihedrals
    summary = json.loads((out / "latent_scores.json").read_text())
    assert summary["n_frames"] == 120 and set(summary["trustworthiness"]) == {
        "trained", "random", "geometry"}
    for r in analysis.rows:
        if r["kind"] == "bond":  # a bond is a column of the geometry control: probe R² ≈ 1
            assert r["r2_probe_geometry"] > 0.99
    saved = np.load(out / "latents.npz")
    assert saved["latent"].shape == (120, 8) and saved["coords2d"].shape == (120, 2)
    for name in ("projection_energy", "projection_energy_random", "projection_grid",
                 "hist_energy", "projection_C0-C1", "hist_C1-C0-O2"):
        image = imread(out / f"{name}.png")
        assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0
    assert "energy" in format_scores(analysis)


def test_latents_are_invariant_to_rotation_inversion_translation(tiny_run):
    model, config, type_map = load_trained(tiny_run)
    frames = extract_latents(tiny_run).frames.subset(np.arange(6))
    q = -o3.rand_matrix(dtype=torch.float64).numpy()  # rotation with inversion
    moved = dataclasses.replace(frames, positions=frames.positions @ q.T + [3.0, -1.0, 2.0])
    latents = [predict(model, GraphDataset(f, config.data.cutoff, type_map, torch.float64))
               for f in (frames, moved)]
    np.testing.assert_allclose(latents[0][keys.LATENT], latents[1][keys.LATENT], atol=1e-10)
    np.testing.assert_allclose(latents[0][keys.ENERGY], latents[1][keys.ENERGY], atol=1e-8)
    assert isinstance(moved, Frames)


def test_unknown_split_is_a_clear_error(tiny_run):
    with pytest.raises(ValueError, match="split 'train2' is not one of"):
        extract_latents(tiny_run, "train2")
