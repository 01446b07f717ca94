"""Training-set sizes as a study axis: the slope fit, the spec, a tiny sweep end to end,
and a study trained on forces."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from equilens.cli.main import main
from equilens.errors import ConfigError
from equilens.study import build_spec
from equilens.report.aggregate import stats
from equilens.report.conclusion import Conclusion
from equilens.report.efficiency import conclude_efficiency, fit_curves, fit_slope
from equilens.study.plan import plan_runs
from tests.browser import inspect_page
from tests.report.helpers import tiny_study_args

SIZES = (50, 100, 250, 500, 1000)
MODELS = ("gcn:channels=8", "egnn:channels=4,layers=2")


# --- the slope ------------------------------------------------------------------------

def test_fit_slope_recovers_a_power_law():
    n = np.array(SIZES)
    slope, prefactor = fit_slope(n, 3.0 * n ** -0.5)
    assert slope == pytest.approx(-0.5, abs=1e-12) and prefactor == pytest.approx(3.0)
    noisy = 3.0 * n ** -0.5 * np.exp(np.random.default_rng(0).normal(0, 0.02, n.size))
    assert fit_slope(n, noisy)[0] == pytest.approx(-0.5, abs=0.05)
    with pytest.raises(ValueError, match="two training-set sizes"):
        fit_slope([100, 100], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        fit_slope([10, 20], [1.0, 0.0])


def _records(model: str, exponent: float, seeds=(0, 1, 2), noise=0.02) -> list[dict]:
    rng = np.random.default_rng(len(model))
    return [{"molecule": "ethanol", "model": model, "seed": s, "n_train": n, "status": "done",
             "test_energy_mae_kcal": 3.0 * n ** exponent * float(np.exp(rng.normal(0, noise)))}
            for s in seeds for n in SIZES]


def test_fit_curves_pools_every_seed_and_spreads_over_seeds():
    records = _records("gcn", -0.5, noise=0.0)
    (fit,) = fit_curves(records, ["ethanol"], ["gcn"])
    assert fit["slope"] == pytest.approx(-0.5) and fit["n_points"] == 15
    assert fit["sizes"] == list(SIZES) and set(fit["seed_slopes"]) == {0, 1, 2}
    assert fit["seed_spread"]["std"] == pytest.approx(0.0, abs=1e-12)
    failed = records + [{**records[0], "status": "failed", "test_energy_mae_kcal": 99.0}]
    assert fit_curves(failed, ["ethanol"], ["gcn"])[0]["n_points"] == 15


def test_conclusion_compares_slopes_over_seeds():
    fits = fit_curves(_records("gcn", -0.3) + _records("egnn", -0.7), ["ethanol"],
                      ["gcn", "egnn"])
    out = Conclusion()
    conclude_efficiency(fits, ["ethanol"], ["gcn", "egnn"], {("ethanol", "gcn"): [50]}, out)
    text = " ".join(out.molecules["ethanol"])
    assert "gcn -0.3" in text and "egnn -0.7" in text
    assert "test energy MAE of egnn falls faster with more training frames than that of gcn" \
        in text
    # changed: a paired t-test over the common seeds, Holm-adjusted (was Welch, unpaired)
    assert "paired t-test over 3 seeds, Holm-adjusted p" in text and "gcn at n = 50" in text
    assert "p < 0.05" not in " ".join(out.headline)
    assert "egnn steeper on ethanol" in out.headline[0]
    (comparison,) = out.comparisons
    assert comparison["quantity"] == "slope_test_energy_mae_kcal"
    assert comparison["verdict"] == "better"
    assert stats([comparison["mean_a"]])["mean"] == pytest.approx(-0.7, abs=0.05)


# --- the spec and the plan ------------------------------------------------------------

def _spec(**kw):
    return build_spec(preset="quick", molecules=["ethanol"], models=["gcn"], seeds=[0, 1],
                      **kw)


def test_train_sizes_are_an_axis_of_the_plan(tmp_path):
    spec = _spec(train_sizes=[20, 10], forces=True)
    assert spec.train_sizes == [10, 20]
    runs = plan_runs(spec, tmp_path)
    assert [r.run_dir.relative_to(tmp_path).as_posix() for r in runs] == [
        "runs/ethanol/gcn/n10/seed0", "runs/ethanol/gcn/n10/seed1",
        "runs/ethanol/gcn/n20/seed0", "runs/ethanol/gcn/n20/seed1"]
    assert [r.config.data.n_train for r in runs] == [10, 10, 20, 20]
    assert all(r.config.training.forces for r in runs)
    assert runs[0].label == "ethanol gcn n=10 seed 0"
    path = tmp_path / "study.yaml"
    path.write_text(spec.to_yaml())
    assert build_spec(path).to_dict() == spec.to_dict()
    # without train sizes the layout is the one of earlier studies
    assert plan_runs(_spec(), tmp_path)[0].run_dir == tmp_path / "runs/ethanol/gcn/seed0"


def test_train_size_and_forces_errors(tmp_path):
    with pytest.raises(ConfigError, match="'data.n_train'.*study axis.*--train-sizes"):
        _spec(train_sizes=[10, 20], overrides={"data.n_train": 30})
    with pytest.raises(ConfigError, match="train_sizes: 1 is too small.*>= 2"):
        _spec(train_sizes=[1, 20])
    with pytest.raises(ConfigError, match="train_sizes: 20 is listed twice"):
        _spec(train_sizes=[20, 20])
    with pytest.raises(ConfigError, match="contradicts overrides training.forces"):
        _spec(forces=True, overrides={"training.forces": "false"})
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"preset": "quick", "forces": "sometimes"}))
    with pytest.raises(ConfigError, match="forces must be true or false, got 'sometimes'"):
        build_spec(path)
    path.write_text(yaml.safe_dump({"preset": "quick", "train_sizes": [10, "many"]}))
    with pytest.raises(ConfigError, match=r"study.yaml: train_sizes\[1\] must be int, got .many."):
        build_spec(path)


# --- a tiny sweep, end to end ---------------------------------------------------------

def _snapshot(out: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in out.glob("runs/**/*")
            if p.is_file() and (p.name in ("metrics.csv", "last.pt", "best.pt", "config.yaml")
                                or p.suffix == ".json")}


def _is_png(path: Path) -> bool:
    from matplotlib.image import imread

    if path.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    image = imread(path)
    return image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 400


def test_a_tiny_train_size_sweep(tmp_path, rmd17_dir, chromium, capsys):
    out = tmp_path / "sweep"
    args = tiny_study_args(rmd17_dir, out, molecules=("ethanol",), n_train=None) + [
        "--train-sizes", "10", "20"]
    assert main(args) == 0
    assert "8 run(s) executed, 0 reused" in capsys.readouterr().out

    for model, slug in zip(MODELS, ("gcn_channels8", "egnn_channels4_layers2")):
        for n in (10, 20):
            for seed in (0, 1):
                run_dir = out / "runs" / "ethanol" / slug / f"n{n}" / f"seed{seed}"
                config = yaml.safe_load((run_dir / "config.yaml").read_text())
                assert config["data"]["n_train"] == n and config["model"] == model
    records = json.loads((out / "results.json").read_text())
    assert len(records) == 8 and all(r["status"] == "done" for r in records)
    assert sorted((r["model"], r["n_train"], r["seed"]) for r in records) == sorted(
        (m, n, s) for m in MODELS for n in (10, 20) for s in (0, 1))
    assert all(r["test_force_mae_kcal"] is None for r in records)
    with open(out / "results.csv") as handle:
        assert sorted(int(row["n_train"]) for row in csv.DictReader(handle)) == [10] * 4 + [20] * 4

    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["groups"]) == 4  # molecule x model x size
    slopes = summary["sample_efficiency"]["slopes"]
    assert {(s["molecule"], s["model"], s["quantity"]) for s in slopes} == {
        ("ethanol", m, "energy") for m in MODELS}
    assert all(isinstance(s["slope"], float) and s["n_points"] == 4 for s in slopes)
    assert summary["sample_efficiency"]["train_sizes"] == [10, 20]
    assert any("Sample efficiency" in t for t in summary["conclusion"]["molecules"]["ethanol"])
    md = (out / "summary.md").read_text()
    assert "## Sample efficiency" in md and "| training frames |" in md

    figure = out / "figures" / "sample_efficiency_ethanol.png"
    assert _is_png(figure)
    page = (out / "report.html").read_text()
    assert 'id="efficiency"' in page and "slope per seed" in page
    shown = inspect_page(out / "report.html", chromium)
    assert shown["broken"] == [] and shown["problems"] == [] and shown["console"] == []

    before = _snapshot(out)
    assert main(args) == 0
    assert "0 run(s) executed, 8 reused" in capsys.readouterr().out
    assert _snapshot(out) == before


def test_a_study_trained_on_forces_reports_force_errors(tmp_path, rmd17_dir, capsys):
    out = tmp_path / "forces"
    args = tiny_study_args(rmd17_dir, out, molecules=("ethanol",), seeds=("0",), n_train=None,
                           workers=1)
    args[args.index("--models") + 1: args.index("--seeds")] = ["gcn:channels=8"]
    assert main(args + ["--train-sizes", "20", "--forces"]) == 0
    capsys.readouterr()
    run_dir = out / "runs" / "ethanol" / "gcn_channels8" / "n20" / "seed0"
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["training"]["forces"] is True and config["data"]["n_train"] == 20
    (record,) = json.loads((out / "results.json").read_text())
    assert record["n_train"] == 20
    assert record["test_force_mae_kcal"] > 0 and record["val_force_mae_kcal"] > 0
    with open(out / "results.csv") as handle:
        (row,) = list(csv.DictReader(handle))
    assert float(row["test_force_mae_kcal"]) == pytest.approx(record["test_force_mae_kcal"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sample_efficiency"] is None  # one size: no slope
    assert summary["groups"][0]["test_force_mae_kcal"]["mean"] > 0
    assert "test force MAE (kcal/mol/Å)" in (out / "summary.md").read_text()
    assert "Sample efficiency" not in (out / "report.html").read_text()


def test_equal_slopes_are_no_difference_detected():
    """Fixed: no "p < 0.05" appended to a verdict that found nothing."""
    fits = fit_curves(_records("gcn", -0.5, noise=0.05) + _records("egnn", -0.5, noise=0.05),
                      ["ethanol"], ["gcn", "egnn"])
    out = Conclusion()
    conclude_efficiency(fits, ["ethanol"], ["gcn", "egnn"], {}, out)
    (comparison,) = out.comparisons
    assert comparison["verdict"] == "no difference detected"
    assert comparison["p_adjusted"] >= 0.05
    assert comparison["ci_low"] < 0 < comparison["ci_high"]
    assert "no difference detected on ethanol" in out.headline[0]
    assert "p < 0.05" not in out.headline[0]
    assert "No difference detected between the slopes of egnn and gcn" in " ".join(
        out.molecules["ethanol"])


def test_a_model_that_learns_at_no_size_is_named_by_the_validity_rule():
    """The flat-curve sentence follows the runs' did_not_learn flags (the report's validity
    rule), not a mean + one std margin: a run below the mean predictor by less than the
    seed spread but flagged as learned counts as learning."""
    gcn = [{**r, "did_not_learn": True} for r in _records("gcn", -0.01)]
    egnn = [{**r, "did_not_learn": r["n_train"] == SIZES[0]} for r in _records("egnn", -0.6)]
    fits = fit_curves(gcn + egnn, ["ethanol"], ["gcn", "egnn"])
    out = Conclusion()
    conclude_efficiency(fits, ["ethanol"], ["gcn", "egnn"], {}, out)
    text = " ".join(out.molecules["ethanol"])
    assert "gcn did not learn at any training-set size" in text
    assert "egnn did not learn" not in text
    (comparison,) = out.comparisons
    assert comparison["verdict"] == "better" and comparison["basis"] == "validity"
