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
    analysis = analyze_run(tiny_run, split="val", method="pca", out=out, top_k=3, repeats=3)
    with open(out / "latent_scores.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {"target", "r2_probe", "r2_knn_2d", "r2_knn_full", "r2_probe_random",
            "r2_probe_geometry"} <= set(rows[0])
    assert {"r2_probe_sd", "r2_kernel", "r2_kernel_sd", "r2_kernel_random",
            "r2_kernel_geometry_sd", "n_members", "members"} <= set(rows[0])
    names = [r["target"] for r in rows]
    assert names[0] == "energy"
    assert {"C0-C1", "C0-O2", "C1-C0-O2"} <= set(names)  # the post's three ethanol variables
    kinds = [r["kind"] for r in rows]
    assert kinds.count("bond") == 5 and kinds.count("angle") == 7  # one per class
    assert kinds.count("dihedral") == 4 and not any("sin" in n for n in names)
    summary = json.loads((out / "latent_scores.json").read_text())
    assert summary["n_frames"] == 120 and summary["split"] == "val"
    assert set(summary["trustworthiness"]) == {"trained", "random", "geometry"}
    assert summary["cv"] == {"folds": 5, "repeats": 3, "seed": 0, "knn_k": 10}
    assert set(summary["by_kind"]) == {"energy", "bond", "angle", "dihedral"}
    bond = summary["by_kind"]["bond"]
    assert bond["n_targets"] == 5
    assert {"trained", "random", "geometry"} <= set(bond)
    assert bond["geometry"]["r2_probe_sd"] >= 0.0
    assert any("reflection" in e["reason"] for e in summary["excluded"])
    assert "C0-C1" not in summary["geometry_control"]["features"]["C0-C1"]
    by_name = {r["target"]: r for r in analysis.rows}
    assert by_name["C0-C1"]["r2_probe_geometry"] < 0.9  # no longer the target itself
    assert by_name["C0-C1"]["r2_knn_2d_geometry"] is None
    assert by_name["energy"]["r2_probe_sd"] > 0.0
    saved = np.load(out / "latents.npz")
    assert saved["latent"].shape == (120, 8) and saved["coords2d"].shape == (120, 2)
    assert saved["target_values"].shape == (120, len(names) - 1)
    for name in ("projection_energy", "projection_energy_random", "projection_grid",
                 "hist_energy", "projection_C0-C1", "hist_C1-C0-O2"):
        image = imread(out / f"{name}.png")
        assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0
    text = format_scores(analysis)
    assert "energy" in text and "±" in text and "bond target" in text


def test_default_frames_are_the_test_set(tiny_run, tmp_path):
    from equilens.errors import DataError

    # The tiny run has 10 test frames: 5-fold CV needs at least 10, so this runs on them.
    analysis = analyze_run(tiny_run, method="pca", out=tmp_path / "a", repeats=2, top_k=1)
    assert analysis.summary["split"] == "test" and analysis.summary["n_frames"] == 10
    with pytest.raises(DataError, match="at least 12 frames"):
        analyze_run(tiny_run, method="pca", out=tmp_path / "b", folds=6)


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


def test_histograms_of_the_same_frames_are_drawn_once_per_cache(tmp_path, monkeypatch):
    """Every model analysing the same frames shows the same histograms: with a cache folder
    the second run copies the first one's file; other values are drawn anew."""
    from equilens.analysis import pipeline

    drawn = []
    real = pipeline.plot_histograms
    monkeypatch.setattr(pipeline, "plot_histograms",
                        lambda *a, **k: drawn.append(k["out_path"]) or real(*a, **k))
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=50), rng.normal(size=20)
    labels = {"name": "C0-C1", "unit": "Å", "other": "test"}
    for run in ("a", "b"):
        pipeline._histogram(train, test, tmp_path / run / "hist.png", tmp_path / "cache", **labels)
    assert len(drawn) == 1
    assert (tmp_path / "a/hist.png").read_bytes() == (tmp_path / "b/hist.png").read_bytes()
    pipeline._histogram(train, test + 1.0, tmp_path / "c/hist.png", tmp_path / "cache", **labels)
    pipeline._histogram(train, test, tmp_path / "d/hist.png", tmp_path / "cache",
                        **(labels | {"other": "validation"}))
    assert len(drawn) == 3


def test_score_table_columns_stay_apart_with_negative_scores(tmp_path):
    from equilens.analysis.pipeline import Analysis

    columns = ["r2_probe", "r2_kernel", "r2_knn_2d", "r2_probe_random", "r2_kernel_random",
               "r2_probe_geometry", "r2_kernel_geometry"]
    values = [-0.068, -12.5, 0.5, -0.04, 0.11, None, -0.007]
    row = {"target": "nn_std"} | {c: v for c, v in zip(columns, values)} | {
        f"{c}_sd": 0.05 for c, v in zip(columns, values) if v is not None}
    analysis = Analysis(tmp_path, [{**row, "target": "energy"}, row],
                        {"trained": 0.9, "random": None, "geometry": 0.8},
                        {"model": "m", "molecule": "x", "split": "test", "n_frames": 10})
    line = format_scores(analysis).splitlines()[3]
    assert line.split() == ["nn_std", "-0.068±0.050", "-12.500±0.050", "0.500±0.050", "|",
                            "-0.040±0.050", "0.110±0.050", "|", "—", "-0.007±0.050"]
