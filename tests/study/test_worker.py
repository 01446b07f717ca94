"""The study worker: a run's data built once and shared, failures keep their traceback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import equilens.training.checkpoint as checkpoint
import equilens.training.experiment as experiment
from equilens.study import plan
from equilens.study.worker import ERROR_LOG, run_task
from equilens.training import load_config
from equilens.training.evaluate import predictions_path

STEPS = ["train", "evaluate", "evaluate-val", "inference", "symmetry", "analyze"]


def make_task(run_dir: Path, data_dir, **overrides) -> dict:
    config = load_config(overrides={
        "data.molecule": "ethanol", "data.data_dir": str(data_dir), "data.n_train": 20,
        "data.n_val": 24, "data.n_test": 10, "training.epochs": 1, "training.batch_size": 8,
        "training.device": "cpu", "training.seed": 1, "model": "egnn:channels=4,layers=2",
        **overrides})
    return {"run_dir": str(run_dir), "config": config.to_dict(), "label": "ethanol egnn seed 1",
            "molecule": "ethanol", "model": config.model, "seed": 1, "rewrite_config": False,
            "threads": 1, "method": "pca", "perplexity": 5.0, "symmetry": True}


class Counter:
    """Counts the calls of a function it wraps (by the name its module calls it)."""

    def __init__(self, monkeypatch, module, name, key=None):
        self.calls: list = []
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            self.calls.append(key(*args, **kwargs) if key else None)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)


def test_a_run_builds_its_data_once_and_reads_its_best_checkpoint_once(
        tmp_path, rmd17_dir, monkeypatch):
    splits = Counter(monkeypatch, experiment, "load_splits")
    loads = Counter(monkeypatch, checkpoint, "load", key=lambda path: Path(path).name)
    run_dir = tmp_path / "run"
    result = run_task(make_task(run_dir, rmd17_dir))
    assert result["ok"], result["traceback"]
    assert result["steps"] == STEPS
    # One set of splits and graphs for training, both evaluations, inference timing, the
    # symmetry checks and the analysis; the best checkpoint read once, by the worker, and
    # shared with every later step.
    assert len(splits.calls) == 1
    assert loads.calls.count("best.pt") == 1
    assert set(result["step_s"]) >= {"data", "load", "floors", *STEPS}
    for name in (plan.VAL_METRICS, plan.INFERENCE, plan.SYMMETRY, plan.SCORES,
                 "test_metrics.json"):
        assert (run_dir / name).is_file(), name
    symmetry = json.loads((run_dir / plan.SYMMETRY).read_text())
    assert symmetry["error"] is None and symmetry["results"]
    for split in ("test", "val"):
        metrics = json.loads((run_dir / f"{split}_metrics.json").read_text())
        with np.load(predictions_path(run_dir, split)) as pred:
            mae = np.abs(pred["energy_pred_kcal"] - pred["energy_true_kcal"]).mean()
        assert metrics["model"]["energy_mae_kcal"] == pytest.approx(mae, rel=1e-12)
        assert metrics["kernel_ridge"] is not None
    assert not (run_dir / ERROR_LOG).exists()

    # A finished run costs nothing: no data, no checkpoint.
    splits.calls.clear()
    loads.calls.clear()
    again = run_task(make_task(run_dir, rmd17_dir))
    assert again["ok"] and again["steps"] == [] and splits.calls == [] and loads.calls == []

    # Lost predictions are written again by evaluating, without training.
    predictions_path(run_dir, "val").unlink()
    third = run_task(make_task(run_dir, rmd17_dir))
    assert third["ok"] and third["steps"] == ["evaluate-val"]
    assert predictions_path(run_dir, "val").is_file() and len(splits.calls) == 1


def test_shared_symmetry_checks_equal_the_checks_of_the_run_folder(tmp_path, rmd17_dir):
    from equilens import symmetry
    from equilens.training import Experiment, load_trained

    run_dir = tmp_path / "run"
    task = make_task(run_dir, rmd17_dir) | {"symmetry": False, "method": "pca"}
    assert run_task(task)["ok"]
    model, config, _ = load_trained(run_dir)
    shared = symmetry.check_run(run_dir, experiment=Experiment.from_config(config), model=model)
    alone = symmetry.check_run(run_dir)
    assert [(r.check, r.dtype, r.max_abs_error) for r in shared] == [
        (r.check, r.dtype, r.max_abs_error) for r in alone]


def test_a_failed_run_keeps_its_traceback_and_a_rerun_starts_afresh(
        tmp_path, rmd17_dir, monkeypatch):
    monkeypatch.delenv("EQUILENS_DATA_DIR", raising=False)
    monkeypatch.setenv("EQUILENS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("EQUILENS_DATA_URL", "http://127.0.0.1:9")
    run_dir = tmp_path / "run"
    empty = tmp_path / "no-data"
    empty.mkdir()
    result = run_task(make_task(run_dir, empty))
    assert not result["ok"]
    assert "\n" not in result["error"] and result["error"].startswith("DataError")
    log = (run_dir / ERROR_LOG).read_text()
    assert log == result["traceback"] and log.startswith("Traceback")
    assert result["error"].split(": ", 1)[1].splitlines()[0] in log
    # The folder holds nothing but the log: the next attempt starts the run afresh and,
    # once it succeeds, the stale log is gone.
    fixed = run_task(make_task(run_dir, rmd17_dir))
    assert fixed["ok"], fixed["traceback"]
    assert fixed["steps"][0] == "train" and not (run_dir / ERROR_LOG).exists()


def test_a_failure_after_training_is_logged_beside_the_run(tmp_path, rmd17_dir, monkeypatch):
    run_dir = tmp_path / "run"
    assert run_task(make_task(run_dir, rmd17_dir) | {"symmetry": False})["ok"]
    (run_dir / plan.INFERENCE).unlink()

    def broken(*args, **kwargs):
        raise RuntimeError("timer broke")

    monkeypatch.setattr("equilens.study.worker.measure_inference", broken)
    result = run_task(make_task(run_dir, rmd17_dir) | {"symmetry": False})
    assert not result["ok"] and result["error"] == "RuntimeError: timer broke"
    assert "timer broke" in (run_dir / ERROR_LOG).read_text()


def test_the_progress_line_says_where_each_run_spent_its_time():
    from equilens.study.run import _steps_text

    seconds = {"data": 0.7, "train": 80.4, "evaluate": 2.13, "analyze": 9.0}
    assert (_steps_text(["train", "evaluate", "analyze"], seconds)
            == "train 80 s, evaluate 2.1 s, analyze 9.0 s")
    assert _steps_text(["resume", "symmetry"], {"train": 12.0}) == "resume 12 s, symmetry"
    assert _steps_text([], {}) == "nothing to do"
