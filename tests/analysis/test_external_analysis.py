"""`equilens analyze --model SPEC`: pretrained models analysed from their shipped weights.

The network is blocked for the whole module; where an extra is not installed, its tests
are skipped with the reason.
"""

from __future__ import annotations

import csv
import importlib.util
import json

import ase.io
import numpy as np
import pytest
import torch
from ase import Atoms
from e3nn import o3

from equilens.analysis.external import layer_latents
from equilens.analysis.pipeline import SCORE_COLUMNS
from equilens.cli.main import main
from equilens.data import read_rmd17_npz
from equilens.models.external import evaluate, load_external
from equilens.training.config import load_config
from equilens.training.experiment import load_splits

HAS = {"sevennet": importlib.util.find_spec("sevenn") is not None,
       "chgnet": importlib.util.find_spec("chgnet") is not None}
EXTRA = {name: pytest.mark.skipif(not ok, reason=f'extra not installed: pip install "equilens[{name}]"')
         for name, ok in HAS.items()}
CODES = [pytest.param(name, marks=EXTRA[name]) for name in HAS]
SIZES = ["--n-train", "10", "--n-val", "2", "--n-test", "24"]


pytestmark = pytest.mark.usefixtures("no_network")


def _analyze(rmd17_dir, out, *extra: str) -> int:
    return main(["analyze", "--molecule", "ethanol", "--data-dir", str(rmd17_dir), *SIZES,
                 "--method", "pca", "--no-explorer", "--out", str(out), *extra])


@pytest.mark.parametrize("code", CODES)
def test_analyze_a_pretrained_model_on_the_split_frames(code, rmd17_dir, tmp_path, capsys):
    assert _analyze(rmd17_dir, tmp_path, "--model", code) == 0
    summary = json.loads((tmp_path / "latent_scores.json").read_text())
    model = load_external(code)
    assert summary["model"] == code and summary["pretrained"] == "pretrained, not trained here"
    assert summary["layer"]["index"] == model.latent_layer and summary["layer"]["invariant"]
    assert summary["split"] == "test" and summary["n_frames"] == 24
    assert "re-initialised" in summary["random_weights"] and summary["ms_per_frame"] > 0
    with open(tmp_path / "latent_scores.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == SCORE_COLUMNS
    assert all(r["r2_probe_random"] != "" for r in rows)
    analysed = load_splits(load_config(overrides={
        "model": code, "data.molecule": "ethanol", "data.data_dir": str(rmd17_dir),
        "data.n_train": 10, "data.n_val": 2, "data.n_test": 24})).test
    with np.load(tmp_path / "latents.npz") as saved:
        np.testing.assert_array_equal(saved["frame_ids"], analysed.frame_ids)
        own = evaluate(model, analysed, forces=False).collect()
        # the default layer is invariant: its pooled invariants are the model's own LATENT
        np.testing.assert_allclose(saved["latent"], own.latent, rtol=1e-4, atol=1e-5)
        shift = saved["predicted_energy"] - own.energy
        np.testing.assert_allclose(shift, summary["energy_offset_kcal"], rtol=1e-9, atol=1e-3)
        assert not np.allclose(saved["latent_random"], saved["latent"])
    assert "random weights" not in capsys.readouterr().err


@EXTRA["sevennet"]
def test_an_equivariant_layer_enters_through_invariants_per_irrep_copy(ethanol_frames):
    model = load_external("sevennet")
    assert not model.layers[0].invariant
    latent = layer_latents(model, ethanol_frames, 0)[0]
    assert latent.shape == (len(ethanol_frames), o3.Irreps(model.layers[0].irreps).num_irreps)
    rotation = o3.rand_matrix(dtype=torch.float64).numpy()
    turned = ethanol_frames.subset(np.arange(len(ethanol_frames)))
    turned.positions = turned.positions @ rotation.T
    latent_turned = layer_latents(model, turned, 0)[0]
    np.testing.assert_allclose(latent_turned, latent, rtol=1e-3, atol=1e-4)  # float32 model
    assert np.abs(latent[:, 128:]).max() > 1e-3  # the norms of the 1e and 2e copies


@pytest.fixture(scope="module")
def ethanol_frames(rmd17_dir):
    return read_rmd17_npz(rmd17_dir / "rmd17_ethanol_test_01.npz").subset(np.arange(3))


@pytest.mark.parametrize("code", CODES)
def test_no_random_control_leaves_its_columns_empty(code, rmd17_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("equilens.analysis.external.load_random_external", lambda *a, **k: None)
    assert _analyze(rmd17_dir, tmp_path, "--model", code, "--subset", "val", "--n-val",
                    "20") == 0
    summary = json.loads((tmp_path / "latent_scores.json").read_text())
    assert summary["split"] == "val" and "cannot re-initialise" in summary["random_weights"]
    assert summary["trustworthiness"]["random"] is None
    with open(tmp_path / "latent_scores.csv") as handle:
        assert all(r["r2_probe_random"] == "" for r in csv.DictReader(handle))


@pytest.mark.parametrize("code", CODES)
def test_bad_specs_layers_and_elements_are_one_line_errors(code, rmd17_dir, tmp_path, capsys):
    assert _analyze(rmd17_dir, tmp_path, "--model", f"{code}:chekpoint=x") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown key 'chekpoint'" in err and "'checkpoint'" in err
    assert _analyze(rmd17_dir, tmp_path, "--model", code, "--layer", "9") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no layer 9" in err
    images = [Atoms("FmH", positions=[[0, 0, 0], [0, 0, 1.2 + 0.01 * i]], info={"energy": -1.0 - 0.01 * i})
              for i in range(12)]
    ase.io.write(tmp_path / "fm.extxyz", images)
    assert main(["analyze", "--model", code, "--file", str(tmp_path / "fm.extxyz"), "--n-train",
                 "4", "--n-val", "2", "--n-test", "4", "--out", str(tmp_path / "fm")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "does not know element(s) Fm" in err


def test_a_built_in_model_is_analysed_after_training(rmd17_dir, tmp_path, capsys):
    assert _analyze(rmd17_dir, tmp_path, "--model", "egnn") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "'egnn' is not a pretrained model" in err
