"""Run plan and status, numbers over seeds, and the generated conclusion."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from equilens.errors import EquilensError, RunDirError
from equilens.study import build_spec
from equilens.report.aggregate import stats, still_improving
from equilens.report.conclusion import compare, fmt, model_kind
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
    # nor is running it compiled (the same function): a study made eagerly resumes compiled
    compiled = plan_runs(_spec(overrides={"training.compile": True}), tmp_path)[0]
    assert compiled.status == "resume" and compiled.rewrite_config


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
    # changed: the best epoch in the last 10% of the epochs (at least the last one), so
    # three falling epochs are still improving; one epoch says nothing
    assert still_improving(flat[:3]) is True and still_improving(flat[:1]) is None
    late = flat[:9] + [{"val_energy_mae_kcal": 1.3}] + flat[9:]  # best at epoch 10 of 11
    assert still_improving(late) is True and still_improving(late + flat[4:6]) is False


def test_model_kind():
    assert model_kind("egnn") == "equivariant" and model_kind("egnn:l_max=2") == "equivariant"
    assert model_kind("egnn:l_max=0") == "invariant" and model_kind("gcn") == "invariant"


def test_conclusion_states_verdicts_with_margins(tmp_path):
    """Changed: verdicts are paired (bootstrap over seeds and frames, Holm-adjusted) and
    latent scores are compared with a paired t-test over seeds; "within the seed spread"
    is gone, a tie reads "no difference detected" with its interval."""
    from tests.report.synthetic import build_study, conclude_records

    records = build_study(tmp_path / "a", {"gcn": 3.0, "egnn": 1.0}, molecule="aspirin")
    records += build_study(tmp_path / "e", {"gcn": 1.5, "egnn": 1.5}, molecule="ethanol",
                           seed=1)
    for r in records:
        good = r["model"] == "egnn" and r["molecule"] == "aspirin"
        r["latent_energy_r2_probe"] = 0.9 + 0.01 * r["seed"] if good else 0.5 + 0.015 * r["seed"]
    c = conclude_records(records, ["gcn", "egnn"])
    text = " ".join(c.headline)
    assert "aspirin: egnn wins" in text and "ethanol: no single winner" in text
    assert "p < 0.05" not in text and "within the seed spread" not in text
    asp = " ".join(c.molecules["aspirin"])
    assert "gcn has a higher test energy MAE than egnn" in asp
    (rec,) = [x for x in c.paired if x["molecule"] == "aspirin" and x["b"] == "egnn"]
    assert rec["verdict"] == "worse" and rec["ratio"] == pytest.approx(3.0, rel=0.1)
    assert "Latent energy (linear probe R²), between models: gcn vs egnn 0.52 vs 0.91, -0.40 [" in asp
    assert "higher in egnn (paired t-tests over 3 seeds, Holm-adjusted over" in asp
    assert "No difference detected between gcn and egnn" in " ".join(c.molecules["ethanol"])


def test_latent_comparisons_per_kind_and_against_random_weights(tmp_path):
    """Latent scores are compared per kind of target (never averaged over kinds), every
    model's trained latent against its random-weights latent, and a model that did not
    learn is named in the sentence (its latent is still scored)."""
    from tests.report.synthetic import build_study, conclude_records

    records = build_study(tmp_path / "a", {"gcn": 3.0, "egnn": 1.0}, molecule="ethanol")
    for r in records:
        s = r["seed"]
        r["latent_bond_r2_probe"] = 0.9 + 0.01 * s if r["model"] == "egnn" else 0.3 + 0.02 * s
        r["latent_bond_r2_probe_random"] = 0.6 + 0.012 * s
        r["latent_dihedral_r2_probe"] = 0.4 + 0.01 * s
        r["latent_dihedral_r2_probe_random"] = 0.4 + 0.01 * s
    c = conclude_records(records, ["gcn", "egnn"])
    latent = [x for x in c.comparisons if x["metric"].startswith("latent_")]
    assert {x["metric"] for x in latent} == {"latent_bond_r2_probe", "latent_dihedral_r2_probe"}
    (vs_random,) = [x for x in latent if x["metric"] == "latent_bond_r2_probe"
                    and x["a"] == "egnn" and x["b"] == "egnn (random weights)"]
    assert vs_random["verdict"] == "better" and vs_random["diff_mean"] == pytest.approx(0.3, abs=0.02)
    (tie,) = [x for x in latent if x["metric"] == "latent_dihedral_r2_probe"
              and x["a"] == "gcn" and x["b"] == "gcn (random weights)"]
    assert tie["verdict"] == "no difference detected"
    text = " ".join(c.molecules["ethanol"])
    assert ("Latent bond lengths (linear probe R²), trained vs random weights: gcn 0.32 vs "
            "0.61") in text
    assert "egnn 0.91 vs 0.61, +0.30 [" in text and "higher when trained" in text
    assert "geometry (mean" not in text


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
    # changed: an old "tie" reads "no difference detected", the tally counts differences
    assert "seed study (50 epochs" in text and "no difference detected there, egnn better here" in text
    with pytest.raises(EquilensError, match="not a finished study"):
        load_other(tmp_path / "nothing")


def test_two_ties_are_not_a_replication(tmp_path):
    """Fixed: only a detected difference can be replicated; two "no difference detected"
    (or old "tie") are counted apart, and a model that did not learn is not comparable."""
    from equilens.report.compare import compare_studies, headline, load_other

    def comp(a, b, verdict, quantity="test_energy_mae_kcal"):
        return {"molecule": "ethanol", "metric": quantity, "a": a, "b": b,
                "verdict": verdict, "mean_a": 1.0, "mean_b": 2.0, "diff_mean": -1.0,
                "ci_low": -1.5, "ci_high": -0.5, "p_adjusted": 0.01, "n_seeds": 3}

    there = [comp("egnn", "gcn", "tie"), comp("egnn", "egnn:l_max=0", "better"),
             comp("gcn", "egnn:l_max=0", "no difference detected"),
             comp("egnn", "mean predictor", "better"),
             comp("gcn", "mean predictor", "better")]
    here = [comp("egnn", "gcn", "no difference detected"),
            comp("egnn", "egnn:l_max=0", "better"),
            comp("gcn", "egnn:l_max=0", "no difference detected"),
            comp("egnn", "mean predictor", "worse"),
            comp("gcn", "mean predictor", "not comparable")]
    other = tmp_path / "seed"
    other.mkdir()
    # an older summary keeps its comparisons under the conclusion, with "quantity"
    old = [{**x, "quantity": x.pop("metric")} for x in there[:1]]
    (other / "summary.json").write_text(json.dumps(
        {"study": {"preset": "seed"}, "conclusion": {"comparisons": old},
         "comparisons": there[1:]}))
    result = compare_studies(here, load_other(other))
    status = {(r["a"], r["b"]): r["status"] for r in result["rows"]}
    assert status == {("egnn", "gcn"): "neither", ("egnn", "egnn:l_max=0"): "replicated",
                      ("gcn", "egnn:l_max=0"): "neither",
                      ("egnn", "mean predictor"): "reversed",
                      ("gcn", "mean predictor"): "not comparable"}
    assert (result["n_same"], result["n_compared"], result["n_neither"]) == (1, 2, 2)
    text = headline(result)
    assert "1 of 2 differences detected in either study are replicated" in text
    assert "2 comparison(s) detected no difference in either study, which is not a " \
           "replication" in text


def test_a_latent_tie_whose_interval_excludes_zero_says_it_is_the_adjustment(tmp_path):
    """The brackets are unadjusted 95% intervals and the verdicts Holm-adjusted: a tie whose
    interval excludes zero is named as failing the adjustment, never left to look like a
    contradiction."""
    from tests.report.synthetic import build_study, conclude_records

    records = build_study(tmp_path / "a", {"gcn": 3.0, "egnn": 1.0}, molecule="ethanol")
    lift = {0: 0.05, 1: 0.10, 2: 0.08}  # t = 5.3 over 3 seeds: p = 0.034 before adjusting
    for r in records:
        s = r["seed"]
        r["latent_energy_r2_probe"] = 0.5 + (lift[s] if r["model"] == "egnn" else 0.01 * s)
        r["latent_energy_r2_probe_random"] = 0.5 + (0.0 if r["model"] == "egnn" else 0.02 * s)
        r["latent_bond_r2_probe"] = 0.3 + 0.01 * s
    c = conclude_records(records, ["gcn", "egnn"])
    (rec,) = [x for x in c.comparisons if x["metric"] == "latent_energy_r2_probe"
              and x["a"] == "egnn" and x["b"] == "egnn (random weights)"]
    assert rec["ci_low"] > 0 and rec["verdict"] == "no difference detected"
    assert rec["p_value"] < 0.05 <= rec["p_adjusted"]
    text = " ".join(c.molecules["ethanol"])
    assert "egnn 0.58 vs 0.50, +0.08 [+0.01, +0.14], no difference detected after the adjustment" in text
    assert "intervals in brackets: 95%, unadjusted" in text
    (tie,) = [x for x in c.comparisons if x["metric"] == "latent_energy_r2_probe"
              and x["a"] == "gcn" and x["b"] == "gcn (random weights)"]
    assert tie["ci_low"] < 0 < tie["ci_high"]
    assert "gcn 0.51 vs 0.52, -0.01 [-0.03, +0.01], no difference detected;" in text


def test_what_a_run_that_did_not_learn_did_in_training():
    from equilens.report.validity import training_evidence

    def history(train, val):
        return [{"epoch": float(i + 1), "train_energy_mae_kcal": t, "val_energy_mae_kcal": v}
                for i, (t, v) in enumerate(zip(train, val))]

    fitted = history([5.15, 4.0, 3.53], [4.1, 4.2, 4.4])  # fitted, validation got worse
    assert training_evidence(fitted) == ("training MAE 5.15 → 3.53 kcal/mol from epoch 1 to 3, "
                                         "the tested checkpoint from epoch 1")
    flat = history([2.03, 2.0, 1.95], [1.9, 1.8, 1.85])
    assert training_evidence(flat).endswith("2.03 → 1.95 kcal/mol from epoch 1 to 3, "
                                            "the tested checkpoint from epoch 2")
    assert training_evidence([]) is None
    assert training_evidence([{"epoch": 1.0, "val_energy_mae_kcal": 1.0}]) is None
