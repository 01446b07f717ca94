"""Verdicts from synthetic result sets: clear win, tie, underpowered, collapsed model,
zero spread, one seed, a floor that did not learn, forces; the generated text and the
``comparisons`` records of summary.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from equilens.report.aggregate import floors
from equilens.report.headline import MAX_LINES, Headline
from equilens.report.predictions import PredictionFileError, load_predictions
from equilens.report.verdicts import VERDICTS
from tests.report.synthetic import COLLAPSED, build_study, conclude_records

SCHEMA = {"molecule", "metric", "a", "b", "diff_mean", "ci_low", "ci_high", "p_adjusted",
          "verdict", "n_seeds", "n_frames"}
MODELS = ["gcn", "egnn"]


def _find(conclusion, a, b, metric="test_energy_mae_kcal"):
    (c,) = [c for c in conclusion.paired if (c["a"], c["b"], c["metric"]) == (a, b, metric)]
    return c


def _text(conclusion) -> str:
    return " ".join(list(conclusion.headline)
                    + [t for items in conclusion.molecules.values() for t in items])


def _never_overclaims(conclusion) -> None:
    text = _text(conclusion)
    assert "within the seed spread" not in text
    if "p < 0.05" in text:  # only where an adjusted p is below it
        assert any((c["p_adjusted"] or 1) < 0.05 for c in conclusion.paired)
    assert len(conclusion.headline) <= MAX_LINES
    assert all(c["verdict"] in VERDICTS for c in conclusion.paired)
    assert json.loads(json.dumps(conclusion.to_dict()))  # serialisable as it is


def test_clear_win(tmp_path):
    records = build_study(tmp_path, {"gcn": 2.0, "egnn": 1.0})
    c = conclude_records(records, MODELS)
    _never_overclaims(c)
    rec = _find(c, "gcn", "egnn")
    assert SCHEMA <= set(rec)
    assert rec["verdict"] == "worse" and rec["basis"] == "paired bootstrap"
    assert 0 < rec["ci_low"] < rec["diff_mean"] < rec["ci_high"]
    assert rec["p_value"] <= rec["p_adjusted"] < 0.05
    assert (rec["n_seeds"], rec["n_frames"], rec["seeds"]) == (3, 900, [0, 1, 2])
    assert rec["ratio"] == pytest.approx(rec["mean_a"] / rec["mean_b"])
    # errors N(0, σ): MAE = σ √(2/π), so the true difference is 0.80 kcal/mol
    assert rec["ci_low"] < 0.80 * 1.15 and rec["ci_high"] > 0.80 * 0.85
    # every model against every other and against each of the three floors
    assert {(x["a"], x["b"]) for x in c.paired} == {("gcn", "egnn")} | {
        (m, f) for m in MODELS for f in ("mean predictor", "ridge on 1/r", "kernel ridge")}
    first = c.headline[0]
    assert first.startswith("ethanol: egnn wins, test energy MAE 0.8")
    assert "below gcn (95% interval 0.6" in first
    assert "egnn beats mean predictor, ridge on 1/r, kernel ridge" in first
    assert c.headline[-1].startswith("What this design cannot tell: with 3 seeds")
    details = " ".join(c.molecules["ethanol"])
    assert "gcn has a higher test energy MAE than egnn" in details
    assert "3 seeds x ~300 test frames" in details and "Holm-adjusted p" in details


def test_tie(tmp_path):
    records = build_study(tmp_path, {"gcn": 1.5, "egnn": 1.5})
    c = conclude_records(records, MODELS)
    _never_overclaims(c)
    rec = _find(c, "gcn", "egnn")
    assert rec["verdict"] == "no difference detected"
    assert rec["ci_low"] < 0 < rec["ci_high"] and rec["p_adjusted"] >= 0.05
    assert "ethanol: no single winner; gcn vs egnn: no difference detected (95% interval" \
        in c.headline[0]
    details = " ".join(c.molecules["ethanol"])
    assert "No difference detected between gcn and egnn" in details
    assert "differences beyond the interval are unlikely" in details
    assert "e.g. gcn vs egnn on ethanol" in c.headline[-1]


def test_underpowered_then_powered(tmp_path):
    """A 10% difference: invisible with 2 seeds x 20 frames, seen with 3 x 1500."""
    small = conclude_records(build_study(tmp_path / "small", {"gcn": 1.1, "egnn": 1.0},
                                         seeds=(0, 1), n_frames=20), MODELS)
    rec = _find(small, "gcn", "egnn")
    assert rec["verdict"] == "no difference detected"
    assert rec["ci_high"] - rec["ci_low"] > 0.3  # wider than the true 0.08 kcal/mol
    assert "smaller differences cannot be seen" in small.headline[-1]
    assert "with 2 seeds the intervals resample only 2 training runs" in small.headline[-1]
    big = conclude_records(build_study(tmp_path / "big", {"gcn": 1.1, "egnn": 1.0},
                                       n_frames=1500), MODELS)
    assert _find(big, "gcn", "egnn")["verdict"] == "worse"
    assert big.headline[0].startswith("ethanol: egnn wins")


def test_collapsed_model(tmp_path):
    records = build_study(tmp_path, {"gcn": COLLAPSED, "egnn": 1.0}, seeds=(0, 1))
    gcn = [r for r in records if r["model"] == "gcn"]
    assert all(r["did_not_learn"] is True for r in gcn)
    assert all("predictions nearly constant" in r["did_not_learn_reason"] for r in gcn)
    assert all(r["prediction_std_kcal"] < 0.01 < r["true_std_kcal"] for r in gcn)
    assert not any(r["did_not_learn"] for r in records if r["model"] == "egnn")
    c = conclude_records(records, MODELS)
    _never_overclaims(c)
    rec = _find(c, "gcn", "egnn")
    assert (rec["verdict"], rec["basis"], rec["p_adjusted"]) == ("worse", "validity", None)
    assert _find(c, "gcn", "mean predictor")["verdict"] == "not comparable"
    assert _find(c, "egnn", "mean predictor")["verdict"] == "better"
    first = c.headline[0]
    assert first.startswith("ethanol: egnn is the only model that learned")
    assert "gcn did not learn and is not ranked: predictions nearly constant" in first
    assert "gcn beats" not in first and "gcn wins" not in first
    assert "how gcn would compare had it learned" in c.headline[-1]
    details = " ".join(c.molecules["ethanol"])
    assert "egnn is better than gcn on test energy MAE because gcn did not learn" in details
    assert "it is not ranked, and a model that learned is better than it." in details
    # neither learned: not comparable, and no ranking at all
    both = conclude_records(build_study(tmp_path / "both", {"gcn": COLLAPSED,
                                                            "egnn": COLLAPSED}), MODELS)
    assert _find(both, "gcn", "egnn")["verdict"] == "not comparable"
    assert both.headline[0].startswith("ethanol: no model learned, so none is ranked")
    said = " ".join(both.molecules["ethanol"])
    assert "gcn did not learn (" in said and "egnn did not learn (" in said
    assert "a model that learned" not in said  # none did
    assert "(no comparison was decided by a test)" in both.headline[-1]


def test_not_below_the_mean_predictor_did_not_learn(tmp_path):
    """Noisy but not constant predictions whose MAE interval is not below the floor."""
    records = build_study(tmp_path, {"gcn": 6.0, "egnn": 1.0}, seeds=(0,))
    (gcn,) = [r for r in records if r["model"] == "gcn"]
    assert gcn["did_not_learn"] is True
    assert "not below the mean predictor's" in gcn["did_not_learn_reason"]
    assert "nearly constant" not in gcn["did_not_learn_reason"]


def test_zero_spread(tmp_path):
    """Identical predictions: Δ = 0 on every frame, p = 1, never p = 0 and "better"."""
    records = build_study(tmp_path, {"egnn": 1.0, "egnn:l_max=0": 1.0},
                          same_as={"egnn:l_max=0": "egnn"})
    c = conclude_records(records, ["egnn", "egnn:l_max=0"])
    _never_overclaims(c)
    rec = _find(c, "egnn", "egnn:l_max=0")
    assert rec["verdict"] == "no difference detected" and rec["zero_spread"] is True
    assert (rec["diff_mean"], rec["ci_low"], rec["ci_high"]) == (0.0, 0.0, 0.0)
    assert rec["p_value"] == 1.0 and rec["p_adjusted"] == 1.0
    assert "the resampled differences have no spread" in " ".join(c.molecules["ethanol"])
    assert ("egnn vs egnn:l_max=0: no difference detected (the same difference, +0 kcal/mol, "
            "on every frame: no uncertainty was measured)") in c.headline[0]
    assert "1 comparison(s) with zero spread" in c.headline[-1]
    assert "smaller differences cannot be seen" not in c.headline[-1]


def test_one_seed(tmp_path):
    records = build_study(tmp_path, {"gcn": 2.0, "egnn": 1.0}, seeds=(0,))
    c = conclude_records(records, MODELS)
    _never_overclaims(c)
    rec = _find(c, "gcn", "egnn")
    assert rec["n_seeds"] == 1 and rec["verdict"] == "worse"
    details = " ".join(c.molecules["ethanol"])
    assert "one seed, 300 test frames: the interval rests on the frames of one split" \
        in details
    assert ("with one seed every interval rests on the test frames of one split and one "
            "training run") in c.headline[-1]


def test_a_floor_that_did_not_learn_is_named(tmp_path):
    """Ridge on 1/r worse than the mean predictor (as on aspirin): not a floor to beat."""
    records = build_study(tmp_path, {"gcn": 2.0, "egnn": 1.0}, ridge_noise=8.0)
    assert all(r["ridge_did_not_learn"] for r in records)
    assert not any(r["kernel_ridge_did_not_learn"] for r in records)
    rows = {f["name"]: f for f in floors(records, ["ethanol"])}
    assert set(rows) == {"mean predictor", "ridge on 1/r", "kernel ridge"}
    assert rows["ridge on 1/r"]["did_not_learn"] == [0, 1, 2]
    c = conclude_records(records, MODELS)
    rec = _find(c, "egnn", "ridge on 1/r")
    assert (rec["verdict"], rec["basis"]) == ("better", "validity")
    first = c.headline[0]
    assert "egnn beats mean predictor, kernel ridge" in first
    assert "ridge on 1/r did not learn here (test MAE not below" in first
    # in some seeds only: they are named
    for r in records:
        r["ridge_did_not_learn"] = r["seed"] == 1
    some = conclude_records(records, MODELS).headline[0]
    assert "ridge on 1/r did not learn here in seed 1 (test MAE not below" in some


def test_forces_are_compared_between_models_only(tmp_path):
    records = build_study(tmp_path, {"gcn": 2.0, "egnn": 1.0}, forces=True, seeds=(0, 1))
    c = conclude_records(records, MODELS)
    forces = [x for x in c.paired if x["metric"] == "test_force_mae_kcal"]
    assert [(x["a"], x["b"]) for x in forces] == [("gcn", "egnn")]
    assert forces[0]["verdict"] == "worse" and forces[0]["n_frames"] == 600
    assert "gcn has a higher test force MAE than egnn" in " ".join(c.molecules["ethanol"])


def test_headline_stays_within_five_lines():
    h = Headline([f"mol{i}: line." for i in range(7)], ["design."])
    assert len(h) <= MAX_LINES and all(f"mol{i}" in " ".join(h) for i in range(7))
    h.add("efficiency.")
    h.add("against another study.")
    assert len(h) <= MAX_LINES and h[-2:] == ["efficiency.", "against another study."]
    assert list(Headline(["a.", "b."], ["design."])) == ["a.", "b.", "design."]


def test_prediction_files_are_checked(tmp_path):
    path = tmp_path / "predictions"
    path.mkdir()
    assert load_predictions(tmp_path) is None
    np.savez(path / "test.npz", frame_ids=np.array([1, 1]), energy_true_kcal=np.zeros(2),
             energy_pred_kcal=np.zeros(2))
    with pytest.raises(PredictionFileError, match="frame_ids repeat a frame"):
        load_predictions(tmp_path)
    np.savez(path / "test.npz", frame_ids=np.array([1, 2]), energy_true_kcal=np.zeros(2))
    with pytest.raises(PredictionFileError, match="missing energy_pred_kcal"):
        load_predictions(tmp_path)
    np.savez(path / "test.npz", frame_ids=np.array([1, 2]), energy_true_kcal=np.zeros(2),
             energy_pred_kcal=np.zeros(3))
    with pytest.raises(PredictionFileError, match=r"energy_pred_kcal has shape \(3,\)"):
        load_predictions(tmp_path)


def test_validity_without_per_frame_predictions(tmp_path):
    """Older runs: the standard deviations and MAEs of test_metrics.json, no interval."""
    from equilens.report.aggregate import validity_columns

    flat = validity_columns(tmp_path, {
        "model": {"energy_mae_kcal": 4.0}, "prediction_std_kcal": 0.002,
        "true_std_kcal": 5.0, "mean_predictor": {"energy_mae_kcal": 3.9}})
    assert flat["did_not_learn"] is True
    assert "nearly constant" in flat["did_not_learn_reason"]
    assert "not below the mean predictor's 3.9" in flat["did_not_learn_reason"]
    fine = validity_columns(tmp_path, {"model": {"energy_mae_kcal": 1.0},
                                       "mean_predictor": {"energy_mae_kcal": 3.9}})
    assert fine["did_not_learn"] is False
    assert validity_columns(tmp_path, None)["did_not_learn"] is None


def test_runs_without_predictions_are_left_out_and_said_so(tmp_path):
    records = build_study(tmp_path, {"gcn": 2.0, "egnn": 1.0}, seeds=(0, 1))
    (tmp_path / "runs/ethanol/gcn/seed1/predictions/test.npz").unlink()
    c = conclude_records(records, MODELS)
    assert _find(c, "gcn", "egnn")["seeds"] == [0]
    assert "1 run(s) have no per-frame predictions and are left out" in c.headline[-1]
    assert "left out of the paired comparisons: gcn seed 1" in " ".join(c.molecules["ethanol"])


def test_a_run_that_did_not_learn_says_what_its_training_did(tmp_path):
    from equilens.report.aggregate import validity_columns

    records = build_study(tmp_path, {"gcn": COLLAPSED, "egnn": 1.0}, seeds=(0,))
    runs = {r["model"]: r["run_dir"] for r in records}
    history = [{"epoch": 1.0, "train_energy_mae_kcal": 5.2, "val_energy_mae_kcal": 4.1},
               {"epoch": 2.0, "train_energy_mae_kcal": 3.5, "val_energy_mae_kcal": 4.4}]
    gcn = validity_columns(tmp_path / runs["gcn"], None, history)
    assert gcn["did_not_learn"] is True
    assert gcn["did_not_learn_reason"].startswith("predictions nearly constant")
    assert gcn["did_not_learn_reason"].endswith(
        "; training MAE 5.2 → 3.5 kcal/mol from epoch 1 to 2, the tested checkpoint from epoch 1")
    egnn = validity_columns(tmp_path / runs["egnn"], None, history)
    assert egnn["did_not_learn"] is False and egnn["did_not_learn_reason"] is None
