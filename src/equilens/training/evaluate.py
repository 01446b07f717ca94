"""Evaluate a trained run on its test (or validation) frames, beside the floors.

Writes ``<split>_metrics.json`` (``test_metrics.json``, ``val_metrics.json``) and the
per-frame predictions ``predictions/<split>.npz`` (see :func:`save_predictions`).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from equilens.data import Frames, keys
from equilens.errors import ConfigError
from equilens.io import write_bytes, write_json
from equilens.training import rundir
from equilens.training.baselines import FLOORS, Floors
from equilens.training.checkpoint import load_trained
from equilens.training.experiment import Experiment, resolve_device
from equilens.training.predict import energy_errors, errors, predict
from equilens.training.pretrained import OffsetModel, is_pretrained_run, load_pretrained_model, read_offset

#: Folder of the per-frame predictions in a run folder: ``predictions/<split>.npz``.
PREDICTIONS = "predictions"


def metrics_name(split: str) -> str:
    """File name of the metrics of ``split``: test_metrics.json, val_metrics.json."""
    return rundir.TEST_METRICS if split == "test" else f"{split}_metrics.json"


def predictions_path(run_dir: str | Path, split: str) -> Path:
    """``RUN_DIR/predictions/<split>.npz``."""
    return Path(run_dir) / PREDICTIONS / f"{split}.npz"


def evaluate(run_dir: str | Path, split: str = "test", which: str = "best", device: str = "cpu",
             *, experiment: Experiment | None = None, model: torch.nn.Module | None = None,
             floors: Floors | None = None) -> dict:
    """Energy (and force) errors of the run's model on ``split`` and of the floors.

    Writes ``test_metrics.json`` (or ``val_metrics.json``) with keys ``model``,
    ``mean_predictor``, ``ridge_inverse_distances``, ``kernel_ridge`` (each MAE/RMSE in
    kcal/mol and meV; kernel ridge also its ``kernel``, ``alpha``, ``gamma`` and
    ``cv_mae_kcal``; None where a floor does not apply), ``prediction_std_kcal`` and
    ``true_std_kcal`` (std of the model's and of the true energies over the frames),
    ``n_frames``, ``checkpoint``, ``model_spec``; and ``predictions/<split>.npz``. A run
    trained on forces adds ``force_*`` errors to ``model``, one trained on the stress
    ``stress_mae_kcal``/``stress_rmse_kcal`` (kcal/mol/Å³) and ``stress_*_mev`` (meV/Å³),
    over every frame and tensor component.

    Shared inputs (all optional; built from the run folder when None):
        experiment: the run's data (``Experiment.from_config`` of its config).
        model: the run's trained model of checkpoint ``which``, on ``device``;
            needs ``experiment``.
        floors: the floors fitted on the run's training frames.
    """
    run_dir = Path(run_dir)
    dev = resolve_device(device)
    model, exp = _model_and_data(run_dir, which, dev, experiment, model)
    config = exp.config
    if split not in exp.datasets:
        raise ConfigError(f"split '{split}' has no frames; allowed: {', '.join(exp.datasets)}")
    frames = exp.splits.parts()[split]
    forces = config.training.forces and frames.forces is not None
    stress = config.training.stress and frames.stress is not None
    pred = predict(model, exp.datasets[split], config.training.eval_batch_size, dev, forces=forces,
                   stress=stress)
    floors = floors or Floors.fit(exp.splits.train)
    floor_pred = floors.predict(frames)
    result = {
        "run_dir": str(run_dir), "split": split, "n_frames": len(frames), "checkpoint": which,
        "model_spec": config.model,
        "model": energy_errors(pred[keys.ENERGY], frames.energy),
        **{name: None if p is None else energy_errors(p, frames.energy)
           for name, p in floor_pred.items()},
        "prediction_std_kcal": float(np.std(pred[keys.ENERGY])),
        "true_std_kcal": float(np.std(frames.energy)),
    }
    if result["kernel_ridge"] is not None:
        result["kernel_ridge"] |= floors.kernel_ridge.hyperparameters()
    if forces:
        result["model"] |= errors(pred[keys.FORCES], frames.forces, "force")
    if stress:  # per component; stress_*_kcal in kcal/mol/Å³, stress_*_mev in meV/Å³
        result["model"] |= errors(pred[keys.STRESS], frames.stress, "stress")
    save_predictions(predictions_path(run_dir, split), frames, pred[keys.ENERGY],
                     pred.get(keys.FORCES) if forces else None, floor_pred)
    write_json(run_dir / metrics_name(split), result)
    return result


def _model_and_data(run_dir: Path, which: str, device: torch.device,
                    experiment: Experiment | None, model: torch.nn.Module | None
                    ) -> tuple[torch.nn.Module, Experiment]:
    """The trained model and the run's data: the ones given, else loaded and built."""
    if model is not None and experiment is None:
        raise ConfigError("evaluate: a shared model needs its experiment (experiment=...)")
    if model is None and is_pretrained_run(run_dir):  # pretrained: weights + offset
        config = rundir.read_config(run_dir)
        model = OffsetModel(load_pretrained_model(config), read_offset(run_dir)).to(device)
        experiment = experiment or Experiment.from_config(config)
        experiment.check_config(config, str(run_dir))
    elif model is None:
        model, config, type_map = load_trained(run_dir, which, device)
        if experiment is None:
            experiment = Experiment.from_config(config, type_map=type_map)
        else:
            check_shared(run_dir, experiment, config, type_map)
    rundir.check_same_frames(run_dir, experiment.splits.origin)
    return model, experiment


def check_shared(run_dir: Path, experiment: Experiment, config, type_map) -> None:
    """A ConfigError if the shared ``experiment`` is not the data of the run whose
    checkpoint gave ``config`` and ``type_map``."""
    experiment.check_config(config, str(run_dir))
    if experiment.type_map.atomic_numbers != type_map.atomic_numbers:
        raise ConfigError(f"{run_dir}: the shared data has elements {experiment.type_map.symbols}, "
                          f"the checkpoint {type_map.symbols}; not this run's data")


def save_predictions(path: Path, frames: Frames, energy: np.ndarray,
                     forces: np.ndarray | None, floors: dict[str, np.ndarray | None]) -> Path:
    """Write the per-frame predictions of one split atomically (``np.savez_compressed``).

    Keys: ``frame_ids`` (n,) int64, the frames' identity in their trajectory (rMD17
    ``old_indices``, else the row of the source file), the same for every model of the
    same seed and split; ``energy_true_kcal``, ``energy_pred_kcal`` (n,) kcal/mol;
    ``forces_true_kcal``, ``forces_pred_kcal`` (n, n_atoms, 3) kcal/mol/Å when
    ``forces`` is given (frames with fewer atoms than the largest padded with NaN);
    ``<floor>_energy_pred_kcal`` (n,) for every floor that applies.
    """
    arrays = {"frame_ids": frames.frame_ids.astype(np.int64),
              "energy_true_kcal": frames.energy.astype(np.float64),
              "energy_pred_kcal": np.asarray(energy, dtype=np.float64)}
    if forces is not None:
        arrays["forces_true_kcal"] = per_frame(frames, frames.forces)
        arrays["forces_pred_kcal"] = per_frame(frames, forces)
    for name in FLOORS:
        if floors.get(name) is not None:
            arrays[f"{name}_energy_pred_kcal"] = np.asarray(floors[name], dtype=np.float64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return write_bytes(path, buffer.getvalue())


def per_frame(frames: Frames, values: np.ndarray) -> np.ndarray:
    """(n_atoms_total, 3) packed per-atom values → (n_frames, max_atoms, 3), NaN-padded."""
    values = np.asarray(values, dtype=np.float64)
    if frames.uniform:
        return values.reshape(len(frames), -1, 3)
    out = np.full((len(frames), int(frames.n_atoms.max()), 3), np.nan)
    for f in range(len(frames)):
        out[f, : frames.n_atoms[f]] = values[frames.offsets[f] : frames.offsets[f + 1]]
    return out


def format_evaluation(result: dict) -> str:
    """A small table of MAE/RMSE for the model and the floors."""
    krr = result.get("kernel_ridge")
    rows = [("model " + result["model_spec"], result["model"]),
            ("mean predictor", result["mean_predictor"]),
            ("ridge on 1/r", result["ridge_inverse_distances"]),
            (f"kernel ridge ({_kernel_name(krr)})", krr)]
    lines = [f"{result['split']} set, {result['n_frames']} frames (energy, kcal/mol | meV)",
             f"{'':28}{'MAE':>9}{'RMSE':>9}{'MAE meV':>10}"]
    for name, m in rows:
        if m is not None:
            lines.append(f"{name:28}{m['energy_mae_kcal']:9.4f}{m['energy_rmse_kcal']:9.4f}"
                         f"{m['energy_mae_mev']:10.2f}")
    if krr is not None:
        lines.append(f"kernel ridge: alpha {krr['alpha']:.0e}, gamma {krr['gamma']:.3g} "
                     "(leave-one-out CV on the training frames)")
    if "prediction_std_kcal" in result:
        lines.append(f"std of the model's energies {result['prediction_std_kcal']:.4f}, of the "
                     f"true energies {result['true_std_kcal']:.4f} kcal/mol")
    if "force_mae_kcal" in result["model"]:
        m = result["model"]
        lines.append(f"forces: MAE {m['force_mae_kcal']:.4f} kcal/mol/Å ({m['force_mae_mev']:.2f} "
                     f"meV/Å), RMSE {m['force_rmse_kcal']:.4f} kcal/mol/Å")
    if "stress_mae_kcal" in result["model"]:
        m = result["model"]
        lines.append(f"stress: MAE {m['stress_mae_mev']:.3f} meV/Å³, RMSE "
                     f"{m['stress_rmse_mev']:.3f} meV/Å³")
    return "\n".join(lines)


def _kernel_name(krr: dict | None) -> str:
    kernel = (krr or {}).get("kernel", "rbf")
    return {"rbf": "Gaussian", "laplacian": "Laplacian"}.get(kernel, kernel)
