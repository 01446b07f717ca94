"""`equilens check`: exit codes, printed tables and the JSON record."""

from __future__ import annotations

import json

import pytest
import yaml

from equilens.cli.main import main
from equilens.io import write_text
from equilens.training import checkpoint, rundir
from equilens.training.config import load_config
from equilens.training.experiment import Experiment


@pytest.fixture
def data_flags(rmd17_dir) -> list[str]:
    return ["--data-dir", str(rmd17_dir), "--n-train", "20", "--n-val", "5", "--n-test", "5",
            "--frames", "2", "--samples", "1"]


def test_passing_model_exits_0_and_writes_json(data_flags, tmp_path, capsys):
    out = tmp_path / "sub" / "check.json"
    code = main(["check", "--model", "gcn:channels=4,layers=2", "--molecule", "ethanol",
                 *data_flags, "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "gcn:channels=4,layers=2 (random weights) [float64]" in printed
    assert "[float32]" in printed and "all checks passed" in printed
    record = json.loads(out.read_text())
    assert record["passed"] is True and record["seed"] == 0 and record["frames"] == 2
    assert record["data"]["molecule"] == "ethanol" and record["data"]["n_train"] == 20
    (model,) = record["models"]
    assert model["model"] == "gcn:channels=4,layers=2" and model["weights"] == "random"
    assert {c["dtype"] for c in model["checks"]} == {"float64", "float32"}
    row = model["checks"][0]
    assert set(row) == {"check", "max_abs_error", "max_rel_error", "tolerance", "passed",
                        "dtype", "magnitude", "n_samples"}
    assert row["passed"] is True and row["max_rel_error"] <= row["tolerance"]
    assert not list(out.parent.glob(".*.tmp"))  # written atomically, nothing left behind


def test_negative_control_exits_1(data_flags, tmp_path, capsys):
    out = tmp_path / "check.json"
    code = main(["check", "--model", "mlp:channels=8", "--model", "gcn:channels=4,layers=1",
                 "--dtype", "float32", *data_flags, "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 1
    assert "FAIL" in printed and "FAILED" in printed and "[float64]" not in printed
    record = json.loads(out.read_text())
    assert record["passed"] is False
    mlp, gcn = record["models"]
    checks = {c["check"]: c for c in mlp["checks"]}
    assert not checks["energy/rotation"]["passed"] and not checks["energy/translation"]["passed"]
    assert checks["energy/permutation"]["passed"]
    assert mlp["passed"] is False and gcn["passed"] is True


def test_usage_errors_exit_2(data_flags, capsys):
    assert main(["check", *data_flags]) == 2
    assert "give a RUN_DIR or --model" in capsys.readouterr().err
    assert main(["check", "--model", "egnn:l_max=-1", *data_flags]) == 2
    assert main(["check", "--model", "gcn", "--frames", "9", *data_flags[:-4]]) == 2
    assert "9 frames requested" in capsys.readouterr().err


def test_run_dir(rmd17_dir, tmp_path, capsys):
    config = load_config(overrides={
        "model": "egnn:l_max=1,channels=4,layers=2", "data.data_dir": str(rmd17_dir),
        "data.n_train": 20, "data.n_val": 5, "data.n_test": 5})
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    write_text(run_dir / rundir.CONFIG, yaml.safe_dump(config.to_dict(), sort_keys=False))
    experiment = Experiment.from_config(config)
    checkpoint.save(run_dir / rundir.BEST, experiment.new_model(), config, experiment.type_map,
                    experiment.datasets["train"].mean_neighbours, {"epoch": 1})
    out = tmp_path / "run.json"
    code = main(["check", str(run_dir), "--frames", "2", "--samples", "1", "--dtype", "float64",
                 "--json", str(out)])
    assert code == 0, capsys.readouterr().out
    (model,) = json.loads(out.read_text())["models"]
    assert model["run_dir"] == str(run_dir) and model["weights"] == "best"
    assert model["model"] == "egnn:l_max=1,channels=4,layers=2"
    assert main(["check", str(tmp_path / "missing")]) == 2
