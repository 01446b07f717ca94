"""Evaluate a trained run on its test (or validation) frames, beside the two floors."""

from __future__ import annotations

from pathlib import Path

from equilens.data import keys
from equilens.io import write_json
from equilens.training import rundir
from equilens.training.baselines import mean_predictor, ridge_inverse_distances
from equilens.training.checkpoint import load_trained
from equilens.training.experiment import Experiment, resolve_device
from equilens.training.predict import energy_errors, errors, predict


def evaluate(run_dir: str | Path, split: str = "test", which: str = "best",
             device: str = "cpu") -> dict:
    """Energy MAE/RMSE of the run's model on ``split`` and of the floors; writes JSON.

    Writes ``test_metrics.json`` (or ``val_metrics.json``) in the run folder with keys
    ``model``, ``mean_predictor``, ``ridge_inverse_distances`` (each MAE/RMSE in kcal/mol
    and meV), ``n_frames``, ``checkpoint`` and ``epoch``.
    """
    run_dir = Path(run_dir)
    dev = resolve_device(device)
    model, config, type_map = load_trained(run_dir, which, dev)
    exp = Experiment.from_config(config, type_map=type_map)
    if split not in exp.datasets:
        raise ValueError(f"split '{split}' has no frames; allowed: {', '.join(exp.datasets)}")
    frames = exp.splits.parts()[split]
    forces = config.training.forces and frames.forces is not None
    pred = predict(model, exp.datasets[split], config.training.eval_batch_size, dev, forces=forces)
    ridge = ridge_inverse_distances(exp.splits.train, frames)
    result = {
        "run_dir": str(run_dir), "split": split, "n_frames": len(frames), "checkpoint": which,
        "model_spec": config.model,
        "model": energy_errors(pred[keys.ENERGY], frames.energy),
        "mean_predictor": energy_errors(mean_predictor(exp.splits.train, frames), frames.energy),
        "ridge_inverse_distances": None if ridge is None else energy_errors(ridge, frames.energy),
    }
    if forces:
        result["model"] |= errors(pred[keys.FORCES], frames.forces, "force")
    name = rundir.TEST_METRICS if split == "test" else f"{split}_metrics.json"
    write_json(run_dir / name, result)
    return result


def format_evaluation(result: dict) -> str:
    """A small table of MAE/RMSE for the model and the floors."""
    rows = [("model " + result["model_spec"], result["model"]),
            ("mean predictor", result["mean_predictor"]),
            ("ridge on 1/r", result["ridge_inverse_distances"])]
    lines = [f"{result['split']} set, {result['n_frames']} frames (energy, kcal/mol | meV)",
             f"{'':28}{'MAE':>9}{'RMSE':>9}{'MAE meV':>10}"]
    for name, m in rows:
        if m is not None:
            lines.append(f"{name:28}{m['energy_mae_kcal']:9.4f}{m['energy_rmse_kcal']:9.4f}"
                         f"{m['energy_mae_mev']:10.2f}")
    if "force_mae_kcal" in result["model"]:
        m = result["model"]
        lines.append(f"forces: MAE {m['force_mae_kcal']:.4f} kcal/mol/Å ({m['force_mae_mev']:.2f} "
                     f"meV/Å), RMSE {m['force_rmse_kcal']:.4f} kcal/mol/Å")
    return "\n".join(lines)
