"""`analyze --features FILE --features-key KEY`: latents written by another code's tools."""

from __future__ import annotations

import csv
import json

import ase.io
import numpy as np
import pytest
from ase import Atoms

from equilens.analysis.features_file import features_latents, frame_features
from equilens.analysis.pipeline import SCORE_COLUMNS
from equilens.cli.main import main
from equilens.data import read_rmd17_npz
from equilens.data.units import EV_TO_KCAL_MOL
from equilens.errors import DataError


def _descriptors(pos: np.ndarray) -> np.ndarray:
    """(n_atoms, 3) invariant per-atom descriptors: sums of 1/r, 1/r², exp(-r) over the others."""
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return np.stack([(1 / d).sum(1), (1 / d**2).sum(1), np.exp(-d).sum(1)], axis=1)


@pytest.fixture(scope="module")
def features_file(rmd17_dir, tmp_path_factory):
    frames = read_rmd17_npz(rmd17_dir / "rmd17_ethanol_train_01.npz").subset(np.arange(0, 480, 10))
    images = []
    for i in range(len(frames)):
        atoms = Atoms(numbers=frames.frame_numbers(i), positions=frames.positions_3d()[i])
        atoms.arrays["desc"] = _descriptors(atoms.positions)
        atoms.info["energy"] = frames.energy[i] / EV_TO_KCAL_MOL
        images.append(atoms)
    path = tmp_path_factory.mktemp("features") / "desc.extxyz"
    ase.io.write(path, images)
    return path, images


def test_features_are_pooled_per_frame_and_analysed_without_a_random_control(features_file,
                                                                                 tmp_path, capsys):
    path, images = features_file
    lat = features_latents(path, "desc", n_train=20, n_val=4, n_test=24)
    assert lat.trained.shape == (24, 3) and lat.random is None and lat.predicted_energy is None
    first = lat.frames.frame_ids[0]
    np.testing.assert_allclose(lat.trained[0], images[first].arrays["desc"].mean(axis=0))
    np.testing.assert_allclose(lat.frames.energy[0], images[first].info["energy"] * EV_TO_KCAL_MOL)
    out = tmp_path / "out"
    assert main(["analyze", "--features", str(path), "--features-key", "desc", "--n-train",
                 "20", "--n-val", "4", "--n-test", "24", "--method", "pca", "--no-explorer",
                 "--out", str(out)]) == 0
    with open(out / "latent_scores.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == SCORE_COLUMNS and rows[0]["target"] == "energy"
    assert all(r["r2_probe_random"] == "" and r["r2_probe"] != "" for r in rows)
    summary = json.loads((out / "latent_scores.json").read_text())
    assert summary["model"] == "features:desc" and summary["n_frames"] == 24
    assert "not available" in summary["random_weights"]
    with np.load(out / "latents.npz") as saved:
        np.testing.assert_allclose(saved["latent"], lat.trained)
        assert "latent_random" not in saved and "predicted_energy" not in saved
    assert (out / "projection_energy.png").is_file()
    assert not (out / "projection_energy_random.png").exists()
    assert "random none" in capsys.readouterr().out


def test_bad_features_files_are_one_line_errors(features_file, tmp_path, capsys):
    path, images = features_file
    assert main(["analyze", "--features", str(path), "--features-key", "dsc", "--out",
                 str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no per-atom array 'dsc'" in err and "arrays are: desc" in err
    atoms = images[0].copy()
    atoms.arrays["desc"] = np.zeros((4, 3))  # as a reader that does not check would leave it
    with pytest.raises(DataError, match="has 4 rows, the frame has 9 atoms"):
        frame_features(path, 0, atoms, "desc")
    atoms.arrays["desc"] = np.full((9, 3), np.nan)
    with pytest.raises(DataError, match="NaN"):
        frame_features(path, 0, atoms, "desc")
    bad = [a.copy() for a in images[:12]]
    bad[5].arrays["desc"][2, 1] = np.nan
    ase.io.write(tmp_path / "nan.extxyz", bad)
    assert main(["analyze", "--features", str(tmp_path / "nan.extxyz"), "--features-key", "desc",
                 "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "frame 5" in err and "NaN" in err
    assert main(["analyze", "--features", str(path), "--out", str(tmp_path / "z")]) == 2
    assert "--features-key" in capsys.readouterr().err
