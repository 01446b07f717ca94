"""`equilens analyze`: the analysis seed is fixed by default, not the run's training seed,
so re-analysing a study's run reproduces the scores the study recorded."""

from __future__ import annotations

import json

import numpy as np

from equilens.analysis import extract_latents
from equilens.cli.main import main


def test_analyze_uses_a_fixed_analysis_seed_unless_told(rmd17_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--molecule", "ethanol", "--data-dir", str(rmd17_dir),
                 "--model", "gcn:channels=8", "--n-train", "20", "--n-val", "5",
                 "--n-test", "24", "--epochs", "1", "--device", "cpu", "--seed", "2",
                 "--out", str(run), "--quiet"]) == 0
    common = ["--method", "pca", "--no-explorer"]
    assert main(["analyze", str(run), *common, "--out", str(tmp_path / "default")]) == 0
    assert main(["analyze", str(run), *common, "--seed", "3", "--out", str(tmp_path / "three")]) == 0
    capsys.readouterr()
    for folder, seed in (("default", 0), ("three", 3)):
        summary = json.loads((tmp_path / folder / "latent_scores.json").read_text())
        assert summary["seed"] == seed and summary["split"] == "test"
        assert summary["n_frames"] == 24
        with np.load(tmp_path / folder / "latents.npz") as saved:
            expected = extract_latents(run, "test", seed=seed).random
            np.testing.assert_allclose(saved["latent_random"], expected, rtol=1e-6)
    with np.load(tmp_path / "default" / "latents.npz") as default, \
            np.load(tmp_path / "three" / "latents.npz") as three:
        assert not np.allclose(default["latent_random"], three["latent_random"])


def test_split_val_of_a_run_is_renamed_subset_with_a_note(rmd17_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--molecule", "ethanol", "--data-dir", str(rmd17_dir),
                 "--model", "gcn:channels=8", "--n-train", "20", "--n-val", "12",
                 "--n-test", "5", "--epochs", "1", "--device", "cpu",
                 "--out", str(run), "--quiet"]) == 0
    common = ["--method", "pca", "--no-explorer"]
    assert main(["analyze", str(run), "--split", "val", *common, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "--split val is renamed --subset val" in err and len(err.strip().splitlines()) == 1
    assert main(["analyze", str(run), "--subset", "val", *common, "--out", str(tmp_path / "b")]) == 0
    assert "renamed" not in capsys.readouterr().err
    for folder in ("a", "b"):
        summary = json.loads((tmp_path / folder / "latent_scores.json").read_text())
        assert summary["split"] == "val" and summary["n_frames"] == 12
    assert main(["analyze", str(run), "--molecule", "ethanol", *common]) == 2
    assert "drop the data flags" in capsys.readouterr().err
    assert main(["analyze", *common]) == 2
    assert "give one of RUN_DIR, --model SPEC or --features FILE" in capsys.readouterr().err


def test_a_model_on_a_file_reads_its_energy_key(rmd17_dir, tmp_path, capsys):
    from tests.fixtures.mixed import write_mixed

    data = write_mixed(tmp_path / "ref.extxyz", rmd17_dir, {"ethanol": 30},
                       energy_key="REF_energy")
    common = ["--model", "chgnet", "--file", str(data), "--n-train", "10",
              "--n-val", "5", "--n-test", "15", "--method", "pca", "--no-explorer"]
    assert main(["analyze", *common, "--out", str(tmp_path / "none")]) == 2
    assert "no energy under 'energy'" in capsys.readouterr().err
    assert main(["analyze", *common, "--energy-key", "REF_energy",
                 "--out", str(tmp_path / "keyed")]) == 0
    capsys.readouterr()
    summary = json.loads((tmp_path / "keyed" / "latent_scores.json").read_text())
    assert summary["n_frames"] == 15
    assert main(["analyze", "--model", "chgnet", "--molecule", "ethanol",
                 "--energy-key", "REF_energy", "--out", str(tmp_path / "x")]) == 2
    assert "--energy-key names the energy of a --file" in capsys.readouterr().err
