"""End to end on generated periodic data: `equilens train` with forces and stress on an
EMT CuAu file, then `equilens check` of the run with its periodic rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from equilens.cli.main import main
from equilens.data import keys
from equilens.errors import ConfigError, DataError
from equilens.training import Experiment, load_config, load_trained, predict
from equilens.training.trainer import _loss

FLAGS = ["--set", "data.n_train=12", "--set", "data.n_val=6", "--set", "data.n_test=6",
         "--set", "training.batch_size=4", "--set", "data.cutoff=4.5"]


@pytest.fixture(scope="module")
def stress_run(tmp_path_factory, emt_file):
    out = tmp_path_factory.mktemp("runs") / "emt-gcn"
    code = main(["train", "--file", str(emt_file), "--model", "gcn:channels=8", "--forces",
                 "--set", "data.stress_key=stress", "--set", "training.stress=true",
                 "--set", "training.epochs=2", "--out", str(out), *FLAGS])
    assert code == 0
    return out


def test_train_with_stress_writes_stress_metrics(stress_run):
    lines = (stress_run / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[-2:] == ["train_stress_mae_mev_a3", "val_stress_mae_mev_a3"]
    row = dict(zip(header, lines[-1].split(",")))
    assert 0 < float(row["val_stress_mae_mev_a3"]) < 1e4


def test_trained_model_predicts_stress_of_the_validation_frames(stress_run):
    model, config, type_map = load_trained(stress_run)
    assert config.training.stress and config.data.stress_key == "stress"
    exp = Experiment.from_config(config, type_map=type_map)
    val = exp.datasets["val"]
    assert val.periodic and val.stress is not None
    pred = predict(model, val, stress=True)
    assert pred[keys.STRESS].shape == (6, 3, 3)
    np.testing.assert_allclose(pred[keys.STRESS], pred[keys.STRESS].transpose(0, 2, 1),
                               atol=1e-6)


def test_check_of_the_run_passes_the_periodic_checks(stress_run, tmp_path, capsys):
    out = tmp_path / "check.json"
    code = main(["check", str(stress_run), "--frames", "2", "--samples", "1",
                 "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    checks = {c["check"] for c in json.loads(out.read_text())["models"][0]["checks"]}
    assert {"energy/lattice translation", "energy/supercell", "forces/supercell",
            "stress/rotation"} <= checks


def test_stress_training_needs_stress_labels(tmp_path, rmd17_dir, emt_file):
    config = load_config(overrides={"data.data_dir": str(rmd17_dir), "training.stress": True,
                                    "data.n_train": 10, "data.n_val": 2, "data.n_test": 2})
    with pytest.raises(DataError, match=r"training.stress is set but rMD17 ethanol has no stress \(molecules"):
        Experiment.from_config(config)
    other = load_config(overrides={"data.file": str(emt_file), "data.stress_key": "virial",
                                   "training.stress": True, "data.n_train": 10,
                                   "data.n_val": 2, "data.n_test": 2})
    with pytest.raises((ConfigError, DataError), match="virial"):
        Experiment.from_config(other)


def test_stress_term_of_the_loss():
    """Weighted L1 of the virial per atom V·σ/N over the energy scale."""
    config = load_config(overrides={"training.stress": True, "training.stress_weight": 2.0,
                                    "training.energy_weight": 0.0})
    cell = torch.eye(3).expand(1, 3, 3) * 2.0  # V = 8 Å³
    batch = {keys.ENERGY: torch.zeros(1), keys.N_ATOMS: torch.tensor([4]), keys.CELL: cell,
             keys.STRESS: torch.zeros(1, 3, 3)}
    out = {keys.ENERGY: torch.zeros(1), keys.STRESS: torch.full((1, 3, 3), 0.5)}
    loss = _loss(out, batch, torch.tensor(0.5), config.training)
    assert float(loss) == pytest.approx(2.0 * 0.5 * 8 / 4 / 0.5)


def test_evaluate_reports_stress_errors(stress_run):
    from equilens.training.evaluate import evaluate, format_evaluation

    result = evaluate(stress_run)
    model = result["model"]
    assert model["stress_mae_mev"] == pytest.approx(model["stress_mae_kcal"] * 43.364, rel=1e-3)
    assert 0 < model["stress_mae_kcal"] <= model["stress_rmse_kcal"]
    assert "stress: MAE" in format_evaluation(result)
    assert json.loads((stress_run / "test_metrics.json").read_text())["model"]["stress_mae_mev"] > 0
