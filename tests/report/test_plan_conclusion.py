"""Run plan and status, numbers over seeds, and the generated conclusion."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from equilens.errors import EquilensError, RunDirError
from equilens.study import build_spec
from equilens.report.aggregate import stats, still_improving
from equilens.report.conclusion import compare, conclude, fmt, model_kind
from equilens.study.plan import REQUIRED, model_slug, plan_runs


def _spec(**kw):
    return build_spec(preset="quick", molecules=["ethanol"], models=["gcn", "egnn:l_max=0"],
                      seeds=[0, 1], **kw)


def test_run_folders_and_status(tmp_path):
    runs = plan_runs(_spec(), tmp_path)
    assert [r.run_dir.relative_to(tmp_path).as_posix() for r in runs] == [
        "runs/ethanol/gcn/seed0", "runs/ethanol/gcn/seed1", "runs/ethanol/egnn_l_max0/seed0",
        "runs/ethanol/egnn_l_max0/seed1"]
    assert {r.status for r in runs} == {"new"}
    started, done = runs[0].run_dir, runs[1].run_dir
    for run_dir, cfg in ((started, runs[0].config), (done, runs[1].config)):
        run_dir.mkdir(parents=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    for name in REQUIRED:
        (done / name).parent.mkdir(parents=True, exist_ok=True)
        (done / name).write_text("{}")
    status = {r.run_dir: r.status for r in plan_runs(_spec(), tmp_path)}
    assert status[started] == "resume" and status[done] == "done"


def test_a_folder_of_another_config_is_an_error(tmp_path):
    run = plan_runs(_spec(), tmp_path)[0]
    run.run_dir.mkdir(parents=True)
    (run.run_dir / "config.yaml").write_text(yaml.safe_dump(run.config.to_dict()))
    with pytest.raises(RunDirError, match=r"training\.epochs"):
        plan_runs(_spec(overrides={"training.epochs": 3}), tmp_path)
    # a moved data folder is not another config: the run resumes and records the new folder
    moved = plan_runs(_spec(overrides={"data.data_dir": str(tmp_path)}), tmp_path)[0]
    assert moved.status == "resume" and moved.rewrite_config


def test_model_slug():
    assert model_slug("egnn:l_max=0,channels=16") == "egnn_l_max0_channels16"


def test_stats_and_formatting():
    s = stats([1.0, 2.0, 3.0, None])
    assert s["n"] == 3 and s["mean"] == 2.0 and s["std"] == pytest.approx(1.0)
    assert math.isnan(stats([4.0])["std"])
    assert stats([])["mean"] is None
    assert fmt(1.23456, 0.0567) == "1.235 ± 0.057"
    assert fmt(12.34, 2.3, "kcal/mol") == "12.3 ± 2.3 kcal/mol"
    assert fmt(None) == "—"


def test_still_improving():
    flat = [{"val_energy_mae_kcal": v} for v in [5, 3, 2, 1.5, 1.4, 1.4, 1.4, 1.4, 1.4, 1.4]]
    falling = [{"val_energy_mae_kcal": 10 / k} for k in range(1, 11)]
    assert still_improving(flat) is False and still_improving(falling) is True
    assert still_improving(flat[:3]) is None


def test_model_kind():
    assert model_kind("egnn") == "equivariant" and model_kind("egnn:l_max=2") == "equivariant"
    assert model_kind("egnn:l_max=0") == "invariant" and model_kind("gcn") == "invariant"


def _group(mol, model, values, **extra):
    g = {"molecule": mol, "model": model, "n_seeds": len(values),
         "test_energy_mae_kcal": stats(values), "still_improving": 0.0}
    for key in ("latent_energy_r2_probe", "latent_geometry_r2_probe"):
        g[key] = stats(extra.get(key, []))
    return g


def test_conclusion_states_verdicts_with_margins():
    groups = [
        _group("aspirin", "gcn", [3.0, 3.1, 2.9], latent_energy_r2_probe=[0.5, 0.52, 0.48]),
        _group("aspirin", "egnn", [1.0, 1.05, 0.95], latent_energy_r2_probe=[0.9, 0.91, 0.89]),
        _group("ethanol", "gcn", [2.0, 2.5, 1.5]),
        _group("ethanol", "egnn", [2.1, 1.6, 2.4]),
    ]
    floors = [{"molecule": m, "name": "mean predictor", "n_seeds": 3,
               "test_energy_mae_kcal": stats([2.8, 2.8, 2.8]), "val_energy_mae_kcal": stats([])}
              for m in ("aspirin", "ethanol")]
    c = conclude(groups, floors, ["aspirin", "ethanol"], ["gcn", "egnn"])
    text = " ".join(c.headline)
    assert "lower on aspirin" in text and "within the seed spread on ethanol" in text
    asp = " ".join(c.molecules["aspirin"])
    assert "egnn is more accurate than gcn" in asp and "2 kcal/mol (67%) lower" in asp
    assert "Not clearly beaten" in asp and "gcn" in asp  # gcn (3.0) does not beat 2.8
    assert "energy: probe R² 0.90 ± 0.01 vs 0.50 ± 0.02, better in egnn" in asp
    assert "within the seed spread" in " ".join(c.molecules["ethanol"])


def test_single_seed_gives_no_verdict():
    c = compare("egnn", "gcn", stats([1.0]), stats([2.0]))
    assert c.verdict == "unknown" and c.p_value is None and c.margin == 1.0


def test_compare_with_another_study(tmp_path):
    from equilens.report.compare import compare_studies, headline, load_other

    def comp(verdict, mean_a):
        return {"molecule": "ethanol", "quantity": "test_energy_mae_kcal", "a": "egnn",
                "b": "gcn", "verdict": verdict, "mean_a": mean_a, "mean_b": 3.0, "std_a": 0.1,
                "std_b": 0.1, "p_value": 0.01, "n_a": 3, "n_b": 3}

    other = tmp_path / "seed"
    other.mkdir()
    (other / "summary.json").write_text(json.dumps(
        {"study": {"preset": "seed"}, "conclusion": {"comparisons": [comp("tie", 2.9)]}}))
    (other / "results.json").write_text(json.dumps([{"epochs": 50}]))
    result = compare_studies([comp("better", 1.0)], load_other(other))
    assert result["n_compared"] == 1 and result["n_same"] == 0
    text = headline(result)
    assert "seed study (50 epochs" in text and "within the seed spread there, egnn better here" in text
    with pytest.raises(EquilensError, match="not a finished study"):
        load_other(tmp_path / "nothing")
