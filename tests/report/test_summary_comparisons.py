"""summary.json's ``comparisons``, results.json's validity columns and the headline at the
top of summary.md, from run folders written as evaluated runs write them (no training)."""

from __future__ import annotations

import csv
import json

import numpy as np

from equilens.report.document import write_report
from equilens.report.verdicts import VERDICTS
from equilens.study import build_spec
from equilens.study.plan import INFERENCE, SCORES, VAL_METRICS, plan_runs
from tests.report.synthetic import COLLAPSED, write_run

NOISE = {"gcn": COLLAPSED, "egnn": 1.0, "egnn:l_max=0": 2.5}


def _fill(run, rng: np.random.Generator, frames: dict) -> None:
    """A finished run's files: metrics.csv, test/val metrics with three floors, per-frame
    predictions, inference and (empty) latent scores."""
    ids, true, floor_preds = frames[run.seed]
    noise = NOISE[run.model]
    pred = (np.full(true.size, true.mean()) if noise == COLLAPSED
            else true + rng.normal(0, noise, true.size))
    metrics = write_run(run.run_dir, ids, true, pred, floor_preds)
    (run.run_dir / VAL_METRICS).write_text(json.dumps(metrics))
    (run.run_dir / INFERENCE).write_text(json.dumps({"n_parameters": 1000, "frames_per_s": 50}))
    (run.run_dir / SCORES).parent.mkdir(parents=True, exist_ok=True)
    (run.run_dir / SCORES).write_text(json.dumps({"rows": []}))
    best = 10 if run.model == "egnn" else 4  # egnn's best epoch is its last
    with open(run.run_dir / "metrics.csv", "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["epoch", "train_energy_mae_kcal", "val_energy_mae_kcal", "epoch_time_s"])
        for epoch in range(1, 11):
            w.writerow([epoch, 3.0, 2.0 - 0.1 * min(epoch, best), 1.0])


def test_summary_has_comparisons_and_validity(tmp_path):
    spec = build_spec(preset="quick", molecules=["ethanol"], models=list(NOISE), seeds=[0, 1])
    runs = plan_runs(spec, tmp_path)
    rng = np.random.default_rng(0)
    frames = {}
    for seed in (0, 1):
        true = rng.normal(-97_000.0, 4.0, 100)
        frames[seed] = (np.arange(100) + 1000 * seed, true, {
            "mean_predictor": np.full(100, true.mean() + 0.1),
            "ridge_inverse_distances": true + rng.normal(0, 2.5, 100),
            "kernel_ridge": true + rng.normal(0, 2.0, 100)})
    for run in runs:
        _fill(run, rng, frames)
    write_report(tmp_path, spec, runs)

    summary = json.loads((tmp_path / "summary.json").read_text())
    comps = summary["comparisons"]
    assert len(comps) == 3 + 3 * 3  # model pairs, then every model against three floors
    for c in comps:
        assert {"molecule", "metric", "a", "b", "diff_mean", "ci_low", "ci_high",
                "p_adjusted", "verdict", "n_seeds", "n_frames"} <= set(c)
        assert c["verdict"] in VERDICTS and (c["n_seeds"], c["n_frames"]) == (2, 200)
    by = {(c["a"], c["b"]): c for c in comps}
    assert by[("gcn", "egnn")]["verdict"] == "worse"  # gcn collapsed
    assert by[("egnn", "egnn:l_max=0")]["verdict"] == "better"
    assert by[("egnn", "egnn:l_max=0")]["p_adjusted"] < 0.05
    assert by[("gcn", "mean predictor")]["verdict"] == "not comparable"
    headline = summary["conclusion"]["headline"]
    assert 1 < len(headline) <= 5 and headline[0].startswith("ethanol: egnn wins")
    assert "kernel ridge" in {f["name"] for f in summary["floors"]}

    records = json.loads((tmp_path / "results.json").read_text())
    flags = {(r["model"], r["seed"]): (r["did_not_learn"], r["still_improving"])
             for r in records}
    assert flags[("gcn", 0)] == (True, False) and flags[("egnn", 1)] == (False, True)
    assert flags[("egnn:l_max=0", 0)] == (False, False)
    with open(tmp_path / "results.csv") as handle:
        row = next(csv.DictReader(handle))
    assert {"did_not_learn", "still_improving", "test_kernel_ridge_mae_kcal"} <= set(row)
    md = (tmp_path / "summary.md").read_text()
    assert md.index("* ethanol: egnn wins") < md.index("## Conclusion") < md.index("## Energy MAE")
    assert "still improving at the last epoch" in md and "p < 0.05" not in md
