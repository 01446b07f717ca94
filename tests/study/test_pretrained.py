"""A pretrained model in a study: its offset fitted instead of training, then every step
of a trained run, beside a trained model on the same test frames.

The network is blocked for the whole module (the weights come from the installed
package); without the sevennet extra the test is skipped with the reason.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from equilens.cli.main import main
from equilens.study.symmetry_step import symmetry_available

pytestmark = [pytest.mark.skipif(importlib.util.find_spec("sevenn") is None,
                                 reason='extra not installed: pip install "equilens[sevennet]"'),
              pytest.mark.usefixtures("no_network")]

NOTE = "pretrained, not trained here"


def _args(data_dir: Path, out: Path) -> list[str]:
    return ["study", "--molecules", "ethanol", "--models", "gcn:channels=8", "sevennet",
            "--seeds", "0", "--n-train", "20", "--n-val", "10", "--n-test", "20",
            "--epochs", "1", "--method", "pca", "--data-dir", str(data_dir), "--out", str(out),
            "--workers", "1", "--threads-per-worker", "1", "--device", "cpu"]


def test_study_with_sevennet_beside_a_trained_gcn(tmp_path, rmd17_dir, capsys):
    out = tmp_path / "study"
    assert main(_args(rmd17_dir, out)) == 0
    printed = capsys.readouterr().out
    assert "2 run(s) executed, 0 reused" in printed, printed

    run = out / "runs" / "ethanol" / "sevennet" / "seed0"
    fitted = json.loads((run / "pretrained.json").read_text())
    assert fitted["spec"] == "sevennet" and fitted["checkpoint"] == "7net-0"
    assert fitted["n_train"] == 20 and fitted["note"] == NOTE
    assert np.isfinite(fitted["energy_offset_kcal"]) and abs(fitted["energy_offset_kcal"]) > 1
    assert not (run / "checkpoints").exists() and not (run / "metrics.csv").exists()

    # evaluation: the same files and keys as a trained run, on the same test frames
    gcn = out / "runs" / "ethanol" / "gcn_channels8" / "seed0"
    for split in ("test", "val"):
        ours, theirs = (np.load(r / "predictions" / f"{split}.npz") for r in (run, gcn))
        assert set(ours.files) == set(theirs.files)
        np.testing.assert_array_equal(ours["frame_ids"], theirs["frame_ids"])
        err = ours["energy_pred_kcal"] - ours["energy_true_kcal"]
        assert abs(err.mean()) < 3 * err.std() + 1e-9  # offset fitted: errors not all one side
    inference = json.loads((run / "inference.json").read_text())
    assert inference["frames_per_s"] > 0 and inference["ms_per_frame_forces"] > 0
    if symmetry_available():
        checks = json.loads((run / "symmetry.json").read_text())
        assert checks["error"] is None and checks["results"], checks
        # SevenNet-0 is equivariant under proper rotations only (its parity is off): every
        # check of a proper motion passes; the mirror images are reported, not hidden
        proper = [r for r in checks["results"] if "inversion" not in r["check"]
                  and not r["check"].startswith("e3nn")]
        assert proper and all(r["passed"] for r in proper), proper
        assert any(not r["passed"] for r in checks["results"] if "inversion" in r["check"])
    scores = json.loads((run / "analysis" / "latent_scores.json").read_text())
    assert scores["energy_offset_kcal"] == pytest.approx(fitted["energy_offset_kcal"])
    assert "re-initialised" in scores["random_weights"]

    records = {r["model"]: r for r in json.loads((out / "results.json").read_text())}
    seven = records["sevennet"]
    assert seven["status"] == "done" and seven["test_energy_mae_kcal"] > 0
    assert seven["epochs"] is None and seven["best_epoch"] is None
    assert records["gcn:channels=8"]["epochs"] == 1
    for kind in ("energy", "bond", "angle"):
        for suffix in ("", "_random", "_geometry"):
            assert seven[f"latent_{kind}_r2_probe{suffix}"] is not None, (kind, suffix)
    with open(out / "results.csv") as handle:
        row = next(r for r in csv.DictReader(handle) if r["model"] == "sevennet")
    assert row["epochs"] == "" and row["best_epoch"] == "" and row["test_energy_mae_kcal"]

    summary = json.loads((out / "summary.json").read_text())
    pairs = [c for c in summary["comparisons"] if c["metric"] == "test_energy_mae_kcal"
             and {c["a"], c["b"]} == {"sevennet", "gcn:channels=8"}]
    assert len(pairs) == 1 and pairs[0]["n_frames"] == 20 and pairs[0]["verdict"]

    with open(out / "latent_similarity_ethanol.csv") as handle:
        sim = list(csv.DictReader(handle))
    assert list(sim[0]) == ["from", "to", "gfre", "lfre", "cka"]
    assert {(r["from"], r["to"]) for r in sim} == {("gcn:channels=8", "sevennet"),
                                                   ("sevennet", "gcn:channels=8")}
    assert all(0 <= float(r["cka"]) <= 1 + 1e-9 for r in sim)
    assert (out / "figures" / "latent_similarity_ethanol.png").stat().st_size > 0
    assert summary["latent_similarity"]["ethanol"]["csv"] == "latent_similarity_ethanol.csv"

    page = (out / "report.html").read_text()
    assert page.count(NOTE) >= 3  # the model notes, the learning-curve note, the conclusion
    assert "sevennet: pretrained, not trained here" in page and "no learning curve" in page
    assert "Latent spaces compared" in page and "latent_similarity_ethanol.csv" in page
    assert f"sevennet ({NOTE})" in " ".join(summary["conclusion"]["molecules"]["ethanol"])

    # the run folder alone is enough to evaluate it again (its weights and offset)
    from equilens.training.evaluate import evaluate

    again = evaluate(run, "test")
    assert again["model"]["energy_mae_kcal"] == pytest.approx(seven["test_energy_mae_kcal"],
                                                              rel=1e-6)

    # `analyze RUN_DIR` on the pretrained run: its offset, another layer, its own folder
    layer0 = tmp_path / "layer0"
    assert main(["analyze", str(run), "--layer", "0", "--method", "pca", "--no-explorer",
                 "--out", str(layer0)]) == 0
    again = json.loads((layer0 / "latent_scores.json").read_text())
    assert again["layer"]["index"] == 0 and again["layer"]["index"] != scores["layer"]["index"]
    assert again["energy_offset_kcal"] == pytest.approx(fitted["energy_offset_kcal"])
    assert "written to" in capsys.readouterr().out

    # a rerun finds both runs done and does nothing
    assert main(_args(rmd17_dir, out)) == 0
    assert "0 run(s) executed, 2 reused" in capsys.readouterr().out


@pytest.mark.skipif(importlib.util.find_spec("chgnet") is None,
                    reason='extra not installed: pip install "equilens[chgnet]"')
def test_foundation_preset_runs_pretrained_models_without_a_cutoff():
    from equilens.errors import ConfigError
    from equilens.study import build_spec
    from equilens.study.presets import SEED

    spec = build_spec(preset="foundation")
    assert spec.models == ["sevennet", "chgnet", "egnn", "egnn:l_max=0", "gcn"]
    assert spec.molecules == ["aspirin", "ethanol", "toluene"] and spec.seeds == [0, 1, 2]
    for model in ("egnn", "sevennet"):
        config = spec.run_config("aspirin", model, 0)
        assert (config.training.epochs, config.data.n_train, config.training.batch_size) == (
            SEED.overrides["training.epochs"], 1000, SEED.overrides["training.batch_size"])
    with pytest.raises(ConfigError, match="takes no cutoff"):
        build_spec(preset="foundation", overrides={"data.cutoff": 4.0})
    assert build_spec(preset="seed").models == ["gcn", "egnn", "egnn:l_max=0"]
