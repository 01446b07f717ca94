"""`equilens analyze`: the random-weights control follows the run's own seed."""

from __future__ import annotations

import json

import numpy as np

from equilens.analysis import extract_latents
from equilens.cli.main import main


def test_analyze_uses_the_runs_seed_unless_told(rmd17_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--molecule", "ethanol", "--data-dir", str(rmd17_dir),
                 "--model", "gcn:channels=8", "--n-train", "20", "--n-val", "24",
                 "--n-test", "5", "--epochs", "1", "--device", "cpu", "--seed", "2",
                 "--out", str(run), "--quiet"]) == 0
    assert main(["analyze", str(run), "--method", "pca", "--out", str(tmp_path / "own")]) == 0
    assert main(["analyze", str(run), "--method", "pca", "--seed", "0",
                 "--out", str(tmp_path / "zero")]) == 0
    capsys.readouterr()
    for folder, seed in (("own", 2), ("zero", 0)):
        summary = json.loads((tmp_path / folder / "latent_scores.json").read_text())
        assert summary["seed"] == seed
        with np.load(tmp_path / folder / "latents.npz") as saved:
            expected = extract_latents(run, seed=seed).random
            np.testing.assert_allclose(saved["latent_random"], expected, rtol=1e-6)
    with np.load(tmp_path / "own" / "latents.npz") as own, \
            np.load(tmp_path / "zero" / "latents.npz") as zero:
        assert not np.allclose(own["latent_random"], zero["latent_random"])
