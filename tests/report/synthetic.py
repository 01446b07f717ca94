"""Synthetic result sets for the verdict tests: run folders with ``predictions/test.npz``
and ``test_metrics.json`` as an evaluated run writes them, and their records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from equilens.report.aggregate import RECORD_COLUMNS, floors, group_records, validity_columns
from equilens.study.plan import model_slug

#: per-frame noise (kcal/mol) of the floors' predictions on the true energies (std 5)
RIDGE_NOISE = 3.0
KERNEL_NOISE = 2.5
COLLAPSED = "collapsed"


def _metrics(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    err = pred - true
    return {"energy_mae_kcal": float(np.mean(np.abs(err))),
            "energy_mae_mev": float(np.mean(np.abs(err)) * 43.364),
            "energy_rmse_kcal": float(np.sqrt(np.mean(err ** 2)))}


def write_run(run_dir: Path, ids: np.ndarray, true: np.ndarray, pred: np.ndarray,
              floor_preds: dict[str, np.ndarray], forces: tuple | None = None) -> dict:
    """A run folder's predictions/test.npz and test_metrics.json; returns the metrics."""
    (run_dir / "predictions").mkdir(parents=True)
    arrays = {"frame_ids": ids.astype(np.int64), "energy_true_kcal": true,
              "energy_pred_kcal": pred} | {f"{k}_energy_pred_kcal": v
                                           for k, v in floor_preds.items()}
    metrics = {"model": _metrics(true, pred), "n_frames": int(ids.size),
               "prediction_std_kcal": float(np.std(pred)), "true_std_kcal": float(np.std(true))}
    if forces is not None:
        arrays |= {"forces_true_kcal": forces[0], "forces_pred_kcal": forces[1]}
        metrics["model"]["force_mae_kcal"] = float(np.mean(np.abs(forces[1] - forces[0])))
    for key, value in floor_preds.items():
        metrics[key] = _metrics(true, value)
    np.savez(run_dir / "predictions" / "test.npz", **arrays)
    (run_dir / "test_metrics.json").write_text(json.dumps(metrics))
    return metrics


def build_study(root: Path, models: dict[str, float | str | list], seeds=(0, 1, 2),
                n_frames: int = 300, molecule: str = "ethanol", seed: int = 0,
                ridge_noise: float = RIDGE_NOISE, kernel_noise: float = KERNEL_NOISE,
                forces: bool = False, same_as: dict[str, str] | None = None) -> list[dict]:
    """One molecule's runs, one record each (as :func:`equilens.report.aggregate.run_record`).

    ``models[spec]``: the std (kcal/mol) of its per-frame errors, one per seed as a list,
    or :data:`COLLAPSED` (nearly constant predictions); ``same_as[spec] = other``: the
    same predictions as another model (zero spread of the differences).
    """
    rng = np.random.default_rng(seed)
    records = []
    for s in seeds:
        ids = np.arange(n_frames) + 10_000 * s
        true = rng.normal(-97_000.0, 5.0, n_frames)
        floor_preds = {"mean_predictor": np.full(n_frames, true.mean() + 0.2),
                       "ridge_inverse_distances": true + rng.normal(0, ridge_noise, n_frames),
                       "kernel_ridge": true + rng.normal(0, kernel_noise, n_frames)}
        f_true = rng.normal(0, 20, (n_frames, 9, 3)) if forces else None
        preds: dict[str, np.ndarray] = {}
        for spec, noise in models.items():
            if same_as and spec in same_as:
                preds[spec] = preds[same_as[spec]]
            elif noise == COLLAPSED:
                preds[spec] = np.full(n_frames, true.mean()) + rng.normal(0, 1e-3, n_frames)
            else:
                sigma = noise[list(seeds).index(s)] if isinstance(noise, list) else noise
                preds[spec] = true + rng.normal(0, sigma, n_frames)
            run_dir = root / "runs" / molecule / model_slug(spec) / f"seed{s}"
            pair = None
            if forces:
                scale = 0.0 if noise == COLLAPSED else float(np.mean(np.atleast_1d(noise)))
                pair = (f_true, f_true + rng.normal(0, 1 + scale, f_true.shape))
            metrics = write_run(run_dir, ids, true, preds[spec], floor_preds, pair)
            records.append(_record(molecule, spec, s, run_dir, metrics, n_frames))
    return records


def _record(molecule: str, spec: str, seed: int, run_dir: Path, metrics: dict,
            n_frames: int) -> dict:
    rec = dict.fromkeys(RECORD_COLUMNS)
    rec.update(molecule=molecule, model=spec, seed=seed, status="done", run_dir=str(run_dir),
               n_train=1000, n_val=500, n_test=n_frames, epochs=50, best_epoch=20,
               still_improving=False,
               test_energy_mae_kcal=metrics["model"]["energy_mae_kcal"],
               test_force_mae_kcal=metrics["model"].get("force_mae_kcal"),
               test_mean_predictor_mae_kcal=metrics["mean_predictor"]["energy_mae_kcal"],
               test_ridge_mae_kcal=metrics["ridge_inverse_distances"]["energy_mae_kcal"],
               test_kernel_ridge_mae_kcal=metrics["kernel_ridge"]["energy_mae_kcal"])
    rec.update(validity_columns(run_dir, metrics))
    return rec


def conclude_records(records: list[dict], models: list[str], n_resamples: int = 2000):
    """The conclusion of synthetic records, as the report builds it."""
    from equilens.report.conclusion import conclude

    molecules = list(dict.fromkeys(r["molecule"] for r in records))
    return conclude(group_records(records, molecules, models), floors(records, molecules),
                    molecules, models, records, n_resamples=n_resamples)
