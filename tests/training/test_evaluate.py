"""`evaluate`: metrics beside the floors, per-frame predictions, shared inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from equilens.errors import ConfigError
from equilens.training import Experiment, load_config, load_trained, train
from equilens.training.baselines import Floors
from equilens.training.evaluate import evaluate, format_evaluation, predictions_path

ENERGY_KEYS = {"frame_ids", "energy_true_kcal", "energy_pred_kcal",
               "mean_predictor_energy_pred_kcal", "ridge_inverse_distances_energy_pred_kcal",
               "kernel_ridge_energy_pred_kcal"}


def tiny_config(rmd17_dir, model, **overrides):
    base = {"data.molecule": "ethanol", "data.data_dir": str(rmd17_dir), "data.n_train": 30,
            "data.n_val": 12, "data.n_test": 10, "training.epochs": 2, "training.batch_size": 8,
            "training.device": "cpu", "training.seed": 1, "model": model}
    return load_config(overrides=base | overrides)


@pytest.fixture(scope="module")
def runs(rmd17_dir, tmp_path_factory):
    """Two models trained on the same seed (energies only) and one on forces."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, model, extra in (("egnn", "egnn:channels=4,layers=2", {}),
                               ("gcn", "gcn:channels=8", {}),
                               ("forces", "egnn:channels=4,layers=2", {"training.forces": True})):
        train(tiny_config(rmd17_dir, model, **extra), root / name, progress=False)
        out[name] = root / name
    return out


def load_npz(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("split", ["test", "val"])
def test_predictions_file_recomputes_the_metrics(runs, split):
    result = evaluate(runs["egnn"], split)
    saved = json.loads((runs["egnn"] / f"{split}_metrics.json").read_text())
    assert saved == json.loads(json.dumps(result))
    pred = load_npz(predictions_path(runs["egnn"], split))
    assert set(pred) == ENERGY_KEYS
    n = 10 if split == "test" else 12
    assert pred["frame_ids"].dtype == np.int64 and pred["frame_ids"].shape == (n,)
    assert len(set(pred["frame_ids"].tolist())) == n
    for key in ENERGY_KEYS - {"frame_ids"}:
        assert pred[key].shape == (n,) and pred[key].dtype == np.float64
    true = pred["energy_true_kcal"]
    for name in ("model", "mean_predictor", "ridge_inverse_distances", "kernel_ridge"):
        key = "energy_pred_kcal" if name == "model" else f"{name}_energy_pred_kcal"
        mae = np.abs(pred[key] - true).mean()
        rmse = np.sqrt(((pred[key] - true) ** 2).mean())
        assert saved[name]["energy_mae_kcal"] == pytest.approx(mae, rel=1e-12), name
        assert saved[name]["energy_rmse_kcal"] == pytest.approx(rmse, rel=1e-12), name
    assert saved["prediction_std_kcal"] == pytest.approx(pred["energy_pred_kcal"].std(), rel=1e-12)
    assert saved["true_std_kcal"] == pytest.approx(true.std(), rel=1e-12)
    assert saved["true_std_kcal"] > 0.5
    krr = saved["kernel_ridge"]
    assert krr["kernel"] == "rbf" and krr["alpha"] > 0 and krr["gamma"] > 0
    assert krr["cv_mae_kcal"] > 0
    table = format_evaluation(result)
    assert "kernel ridge (Gaussian)" in table and "ridge on 1/r" in table
    assert "std of the model's energies" in table


def test_frame_ids_are_the_frames_identity_for_every_model_of_a_seed(runs):
    ids = {}
    for name in ("egnn", "gcn"):
        evaluate(runs[name], "test")
        ids[name] = load_npz(predictions_path(runs[name], "test"))
    np.testing.assert_array_equal(ids["egnn"]["frame_ids"], ids["gcn"]["frame_ids"])
    np.testing.assert_array_equal(ids["egnn"]["energy_true_kcal"], ids["gcn"]["energy_true_kcal"])
    np.testing.assert_array_equal(ids["egnn"]["kernel_ridge_energy_pred_kcal"],
                                  ids["gcn"]["kernel_ridge_energy_pred_kcal"])
    _, config, type_map = load_trained(runs["egnn"])
    splits = Experiment.from_config(config, type_map=type_map).splits
    np.testing.assert_array_equal(ids["egnn"]["frame_ids"], splits.test.frame_ids)
    np.testing.assert_array_equal(ids["egnn"]["energy_true_kcal"], splits.test.energy)


def test_forces_are_kept_per_frame(runs):
    result = evaluate(runs["forces"], "test")
    pred = load_npz(predictions_path(runs["forces"], "test"))
    assert set(pred) == ENERGY_KEYS | {"forces_true_kcal", "forces_pred_kcal"}
    assert pred["forces_true_kcal"].shape == pred["forces_pred_kcal"].shape == (10, 9, 3)
    err = pred["forces_pred_kcal"] - pred["forces_true_kcal"]
    assert result["model"]["force_mae_kcal"] == pytest.approx(np.abs(err).mean(), rel=1e-12)
    assert result["model"]["force_rmse_kcal"] == pytest.approx(np.sqrt((err**2).mean()),
                                                                rel=1e-12)
    assert result["model"]["energy_mae_kcal"] == pytest.approx(
        np.abs(pred["energy_pred_kcal"] - pred["energy_true_kcal"]).mean(), rel=1e-12)


def test_shared_inputs_give_the_same_result(runs):
    alone = evaluate(runs["egnn"], "val")
    alone_pred = load_npz(predictions_path(runs["egnn"], "val"))
    model, config, type_map = load_trained(runs["egnn"])
    exp = Experiment.from_config(config)
    shared = evaluate(runs["egnn"], "val", experiment=exp, model=model,
                      floors=Floors.fit(exp.splits.train))
    assert shared == alone
    for key, values in load_npz(predictions_path(runs["egnn"], "val")).items():
        np.testing.assert_array_equal(values, alone_pred[key], err_msg=key)
    assert evaluate(runs["egnn"], "val", experiment=exp) == alone


def test_shared_inputs_of_another_run_are_refused(runs, rmd17_dir):
    model, config, _ = load_trained(runs["egnn"])
    other = Experiment.from_config(tiny_config(rmd17_dir, config.model, **{"training.seed": 2}))
    with pytest.raises(ConfigError, match=r"training\.seed = 2, the run has 1; not this run's"):
        evaluate(runs["egnn"], "test", experiment=other)
    with pytest.raises(ConfigError, match="a shared model needs its experiment"):
        evaluate(runs["egnn"], "test", model=model)
