"""Training runs end to end on tiny real data: run folder, reproducibility, resume, evaluate."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import equilens
import equilens.training.trainer as trainer
from equilens.data import keys
from equilens.data.sources import known_checksums
from equilens.errors import RunDirError
from equilens.training import Interrupted, load_config, load_splits, load_trained, predict, train
from equilens.training.checkpoint import load as load_checkpoint
from equilens.training.evaluate import evaluate, format_evaluation
from equilens.training.experiment import Experiment
from equilens.training.rundir import read_config

MODEL = "egnn:channels=4,layers=2"
REQUIRED_COLUMNS = ["epoch", "train_energy_mae_kcal", "val_energy_mae_kcal", "lr", "epoch_time_s"]


def tiny_config(rmd17_dir, **overrides):
    base = {"data.molecule": "ethanol", "data.data_dir": str(rmd17_dir), "data.n_train": 30,
            "data.n_val": 10, "data.n_test": 10, "training.epochs": 2, "training.batch_size": 8,
            "training.device": "cpu", "training.seed": 0, "model": MODEL}
    return load_config(overrides=base | overrides)


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def without_time(rows: list[dict[str, str]]) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in row.items() if k != "epoch_time_s"} for row in rows]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def isolated_env(tmp_path_factory):
    """No environment data folder, an empty cache, no download possible."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("EQUILENS_DATA_DIR", raising=False)
        mp.setenv("EQUILENS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("EQUILENS_DATA_URL", "http://127.0.0.1:9")
        yield


@pytest.fixture(scope="module")
def tiny_run(rmd17_dir, tmp_path_factory, isolated_env):
    """One tiny egnn run (2 epochs), shared by the read-only tests of this module."""
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    config = tiny_config(rmd17_dir)
    result = train(config, run_dir, progress=False)
    return run_dir, config, result


def test_run_folder_contents(tiny_run):
    run_dir, config, result = tiny_run
    for name in ("config.yaml", "environment.json", "splits.json", "metrics.csv",
                 "checkpoints/best.pt", "checkpoints/last.pt", "learning_curve.png", "train.log"):
        assert (run_dir / name).is_file(), name
        assert (run_dir / name).stat().st_size > 0, name
    # No temporary files of the atomic writes are left behind.
    assert not [p for p in run_dir.rglob("*") if p.name.endswith(".tmp")]

    assert read_config(run_dir) == config
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["model"] == MODEL

    with open(run_dir / "metrics.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert header[0] == "epoch"
    assert all(column in header for column in REQUIRED_COLUMNS)
    rows = read_metrics(run_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for row in rows:
        assert float(row["train_energy_mae_kcal"]) > 0 and float(row["val_energy_mae_kcal"]) > 0
        assert float(row["lr"]) == pytest.approx(config.training.lr)
        assert float(row["epoch_time_s"]) > 0
        assert np.isfinite([float(v) for v in row.values()]).all()

    env = json.loads((run_dir / "environment.json").read_text())
    sums = known_checksums()
    assert env["data_files_sha256"] == {name: sums[name] for name in
                                        ("rmd17_ethanol_train_01.npz", "rmd17_ethanol_test_01.npz")}
    assert env["packages"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert env["packages"]["equilens"] == equilens.__version__
    assert env["python"] and "argv" in env and "created" in env

    splits = json.loads((run_dir / "splits.json").read_text())
    assert [name for name, _ in splits["train"]] == ["rmd17_ethanol_train_01.npz"]
    assert [len(rows) for _, rows in splits["train"]] == [30]
    assert sum(len(rows) for _, rows in splits["val"]) == 10
    assert sum(len(rows) for _, rows in splits["test"]) == 10
    assert not set(splits["val"][0][1]) & set(splits["test"][0][1])

    assert (run_dir / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    log = (run_dir / "train.log").read_text()
    assert f"training {MODEL}" in log and "epoch   1/2" in log and "epoch   2/2" in log
    assert "done: best val MAE" in log

    vals = [float(r["val_energy_mae_kcal"]) for r in rows]
    assert result.epochs == 2
    assert result.best_epoch == int(np.argmin(vals)) + 1
    assert result.best_val_energy_mae_kcal == pytest.approx(min(vals), rel=1e-12)
    assert result.n_parameters > 0


def test_checkpoints(tiny_run):
    run_dir, config, result = tiny_run
    last = load_checkpoint(run_dir / "checkpoints/last.pt")
    best = load_checkpoint(run_dir / "checkpoints/best.pt")
    assert last["epoch"] == 2
    assert best["epoch"] == result.best_epoch
    assert last["model_spec"] == MODEL and last["atomic_numbers"] == [1, 6, 8]
    assert last["config"] == config.to_dict()
    assert [row["epoch"] for row in last["history"]] == [1, 2]
    # The reloaded best model reproduces the validation MAE recorded for its epoch.
    model, cfg, type_map = load_trained(run_dir, "best")
    exp = Experiment.from_config(cfg, type_map=type_map)
    pred = predict(model, exp.datasets["val"])[keys.ENERGY]
    mae = float(np.abs(pred - exp.splits.val.energy).mean())
    assert mae == pytest.approx(result.best_val_energy_mae_kcal, rel=1e-9)


def test_same_seed_same_metrics(tiny_run, rmd17_dir, tmp_path):
    run_dir, config, _ = tiny_run
    again = tmp_path / "again"
    train(tiny_config(rmd17_dir), again, progress=False)
    assert without_time(read_metrics(again)) == without_time(read_metrics(run_dir))
    assert (again / "splits.json").read_bytes() == (run_dir / "splits.json").read_bytes()


def test_different_seed_different_metrics(tiny_run, rmd17_dir, tmp_path):
    run_dir, _, _ = tiny_run
    other = tmp_path / "seed1"
    train(tiny_config(rmd17_dir, **{"training.seed": 1}), other, progress=False)
    a, b = without_time(read_metrics(run_dir)), without_time(read_metrics(other))
    for row_a, row_b in zip(a, b):
        assert row_a["train_energy_mae_kcal"] != row_b["train_energy_mae_kcal"]
        assert row_a["val_energy_mae_kcal"] != row_b["val_energy_mae_kcal"]
    assert (other / "splits.json").read_bytes() != (run_dir / "splits.json").read_bytes()


def test_resume_after_interrupt_matches_uninterrupted(rmd17_dir, tmp_path, monkeypatch,
                                                      isolated_env):
    config = tiny_config(rmd17_dir, **{"training.epochs": 3})
    straight = tmp_path / "straight"
    train(config, straight, progress=False)

    calls = []
    real_epoch = trainer._epoch

    def interrupt_third(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(trainer, "_epoch", interrupt_third)
    broken = tmp_path / "broken"
    with pytest.raises(Interrupted, match=r"2 epoch\(s\) saved .* --resume"):
        train(config, broken, progress=False)
    assert calls == [1, 2, 3]
    assert [int(r["epoch"]) for r in read_metrics(broken)] == [1, 2]
    assert load_checkpoint(broken / "checkpoints/last.pt")["epoch"] == 2
    monkeypatch.setattr(trainer, "_epoch", real_epoch)

    result = train(tiny_config(rmd17_dir, **{"training.epochs": 3}), broken, resume=True,
                   progress=False)
    assert result.epochs == 3
    assert "resuming" in (broken / "train.log").read_text()
    resumed, reference = without_time(read_metrics(broken)), without_time(read_metrics(straight))
    assert [r["epoch"] for r in resumed] == [1.0, 2.0, 3.0]
    for row_r, row_s in zip(resumed, reference, strict=True):
        for key in row_s:
            assert row_r[key] == pytest.approx(row_s[key], rel=1e-12, abs=1e-12), key
    # The final weights agree too.
    a = load_checkpoint(broken / "checkpoints/last.pt")["model_state"]
    b = load_checkpoint(straight / "checkpoints/last.pt")["model_state"]
    for name in b:
        torch.testing.assert_close(a[name], b[name], rtol=1e-12, atol=1e-12)
    # Resuming a finished run trains nothing more.
    assert train(config, broken, resume=True, progress=False).epochs == 3
    assert len(read_metrics(broken)) == 3


def test_resume_with_changed_config(tiny_run, rmd17_dir):
    run_dir, _, _ = tiny_run
    before = snapshot(run_dir)
    changed = tiny_config(rmd17_dir, **{"training.lr": 0.005})
    with pytest.raises(RunDirError, match=r"config differs from the one given in training\.lr;"):
        train(changed, run_dir, resume=True, progress=False)
    changed = tiny_config(rmd17_dir, **{"model": "egnn:channels=5,layers=2", "data.n_val": 11})
    with pytest.raises(RunDirError, match=r"differs from the one given in data\.n_val, model;"):
        train(changed, run_dir, resume=True, progress=False)
    assert snapshot(run_dir) == before


def test_resume_nothing_to_resume(rmd17_dir, tmp_path):
    with pytest.raises(RunDirError, match=r"nothing to resume \(no config\.yaml\)"):
        train(tiny_config(rmd17_dir), tmp_path / "never", resume=True, progress=False)


def test_existing_folder_not_overwritten(tiny_run, rmd17_dir, tmp_path):
    run_dir, config, _ = tiny_run
    before = snapshot(run_dir)
    assert "metrics.csv" in before and "checkpoints/last.pt" in before
    with pytest.raises(RunDirError, match=r"already exists and is not empty; pass --resume"):
        train(config, run_dir, progress=False)
    with pytest.raises(RunDirError, match=r"already exists and is not empty"):
        train(tiny_config(rmd17_dir, **{"training.seed": 5}), run_dir, progress=False)
    assert snapshot(run_dir) == before
    # Any foreign non-empty folder is protected too.
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError):
        train(config, foreign, progress=False)
    assert snapshot(foreign) == {"notes.txt": b"mine"}


def test_evaluate(tiny_run):
    run_dir, config, _ = tiny_run
    result = evaluate(run_dir, device="cpu")
    saved = json.loads((run_dir / "test_metrics.json").read_text())
    assert saved == json.loads(json.dumps(result))
    for name in ("model", "mean_predictor", "ridge_inverse_distances"):
        entry = saved[name]
        assert set(entry) >= {"energy_mae_kcal", "energy_rmse_kcal", "energy_mae_mev"}
        assert 0 < entry["energy_mae_kcal"] <= entry["energy_rmse_kcal"]
    assert saved["n_frames"] == 10 and saved["split"] == "test" and saved["checkpoint"] == "best"
    # The floor is the real one: mean training energy against the test labels.
    splits = load_splits(config)
    expected = np.abs(splits.train.energy.mean() - splits.test.energy).mean()
    assert saved["mean_predictor"]["energy_mae_kcal"] == pytest.approx(expected, rel=1e-12)
    # The model entry matches a direct prediction with the best checkpoint.
    model, cfg, type_map = load_trained(run_dir, "best")
    exp = Experiment.from_config(cfg, type_map=type_map)
    pred = predict(model, exp.datasets["test"])[keys.ENERGY]
    assert saved["model"]["energy_mae_kcal"] == pytest.approx(
        float(np.abs(pred - splits.test.energy).mean()), rel=1e-9)
    table = format_evaluation(result)
    assert "MAE" in table and "mean predictor" in table and "ridge on 1/r" in table


def test_resume_with_more_epochs_extends_the_run(rmd17_dir, tmp_path):
    """Only the training length may change on --resume: the run continues from its last
    epoch to the new total, and config.yaml records the new length."""
    run_dir = tmp_path / "extend"
    train(tiny_config(rmd17_dir, **{"training.epochs": 1}), run_dir, progress=False)
    longer = tiny_config(rmd17_dir, **{"training.epochs": 3})
    result = train(longer, run_dir, resume=True, progress=False)
    assert result.epochs == 3
    assert [int(r["epoch"]) for r in read_metrics(run_dir)] == [1, 2, 3]
    assert read_config(run_dir).training.epochs == 3
    assert "resuming" in (run_dir / "train.log").read_text()
    straight = tmp_path / "straight"
    train(longer, straight, progress=False)
    assert without_time(read_metrics(run_dir)) == without_time(read_metrics(straight))


def test_checkpoint_keeps_the_cutoff_once_and_old_checkpoints_load(tiny_run, tmp_path):
    import shutil

    from equilens.training.checkpoint import recorded_cutoff

    run_dir, config, _ = tiny_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    path = copy / "checkpoints/last.pt"
    raw = torch.load(path, map_location="cpu", weights_only=False)
    assert "cutoff" not in raw and raw["config"]["data"]["cutoff"] == config.data.cutoff
    assert load_checkpoint(path)["cutoff"] == recorded_cutoff(path, raw) == config.data.cutoff
    # a checkpoint written before kept a copy beside the config: it still loads ...
    torch.save({**raw, "cutoff": config.data.cutoff}, path)
    assert load_checkpoint(path)["cutoff"] == config.data.cutoff
    assert load_trained(copy, "last")[1].data.cutoff == config.data.cutoff
    # ... unless the copy disagrees with the config
    torch.save({**raw, "cutoff": config.data.cutoff + 1}, path)
    with pytest.raises(RunDirError, match="differs from data.cutoff"):
        load_checkpoint(path)


def test_compiled_training_gives_the_eager_run(rmd17_dir, tmp_path, isolated_env):
    """training.compile: the same metrics as the eager run (float64, forces); the compiled
    step ran (no fallback line in the log)."""
    settings = {"training.forces": True, "training.dtype": "float64",
                "model": "egnn:l_max=2,channels=4,layers=2"}
    train(tiny_config(rmd17_dir, **settings), tmp_path / "eager", progress=False)
    train(tiny_config(rmd17_dir, **settings, **{"training.compile": True}), tmp_path / "compiled",
          progress=False)
    eager, compiled = (without_time(read_metrics(tmp_path / d)) for d in ("eager", "compiled"))
    assert len(eager) == len(compiled) == 2
    for row_e, row_c in zip(eager, compiled):
        assert row_c == pytest.approx(row_e, rel=1e-8, abs=1e-10)
    assert "running" not in (tmp_path / "compiled" / "train.log").read_text()


def test_compile_without_a_compiled_step_runs_eagerly(rmd17_dir, tmp_path, isolated_env):
    config = tiny_config(rmd17_dir, **{"model": "gcn:channels=4", "training.compile": True,
                                       "training.epochs": 1})
    train(config, tmp_path / "gcn", progress=False)
    log = (tmp_path / "gcn" / "train.log").read_text()
    assert "training.compile: no compiled step for model 'gcn:channels=4'; running eagerly" in log
    assert len(read_metrics(tmp_path / "gcn")) == 1
