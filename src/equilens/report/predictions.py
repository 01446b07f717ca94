"""Per-frame predictions of an evaluated run, read back for the paired comparisons.

Every evaluated run folder keeps ``predictions/test.npz`` (and ``val.npz``) with

- ``frame_ids`` int64 (n,): the frames' identities; every model of one seed has the same
- ``energy_true_kcal``, ``energy_pred_kcal`` (n,), kcal/mol
- ``forces_true_kcal``, ``forces_pred_kcal`` (n, n_atoms, 3), kcal/mol/Å, when trained on
  forces
- the floors' per-frame energies (n,), kcal/mol, each optional:
  ``mean_predictor_energy_pred_kcal``, ``ridge_inverse_distances_energy_pred_kcal``,
  ``kernel_ridge_energy_pred_kcal``.

:func:`frame_errors` turns them into per-frame absolute errors: for energies |ΔE| (n,);
for forces the mean of |ΔF| over the atoms and components of each frame (n,), whose mean
over frames is the force MAE of ``test_metrics.json`` (every frame of a molecule has the
same atoms).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from equilens.errors import DataError

FOLDER = "predictions"
#: floor name (as in the results table) → its key in the npz file
FLOOR_KEYS = {"mean predictor": "mean_predictor_energy_pred_kcal",
              "ridge on 1/r": "ridge_inverse_distances_energy_pred_kcal",
              "kernel ridge": "kernel_ridge_energy_pred_kcal"}
#: metric (a record key) → (true key, predicted key) of the model in the npz file
METRIC_KEYS = {"test_energy_mae_kcal": ("energy_true_kcal", "energy_pred_kcal"),
               "test_force_mae_kcal": ("forces_true_kcal", "forces_pred_kcal")}


class PredictionFileError(DataError):
    """A predictions file is unreadable or its arrays do not fit together."""


def predictions_path(run_dir: str | Path, split: str = "test") -> Path:
    return Path(run_dir) / FOLDER / f"{split}.npz"


def load_predictions(run_dir: str | Path, split: str = "test") -> dict[str, np.ndarray] | None:
    """The arrays of ``predictions/<split>.npz`` (None when the run has no such file).

    Raises:
        PredictionFileError: the file cannot be read, lacks ``frame_ids``,
            ``energy_true_kcal`` or ``energy_pred_kcal``, has repeated frame ids, or holds
            arrays whose first dimension is not the number of frames.
    """
    path = predictions_path(run_dir, split)
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError) as err:
        raise PredictionFileError(f"{path}: not a readable npz file ({err})") from None
    missing = [k for k in ("frame_ids", "energy_true_kcal", "energy_pred_kcal")
               if k not in arrays]
    if missing:
        raise PredictionFileError(f"{path}: missing {', '.join(missing)}")
    ids = arrays["frame_ids"].astype(np.int64).ravel()
    n = ids.size
    if np.unique(ids).size != n:
        raise PredictionFileError(f"{path}: frame_ids repeat a frame")
    for key, value in arrays.items():
        if value.ndim == 0 or value.shape[0] != n:
            raise PredictionFileError(f"{path}: {key} has shape {value.shape}, expected "
                                      f"{n} frames first")
    arrays["frame_ids"] = ids
    return arrays


def frame_errors(arrays: dict[str, np.ndarray], metric: str,
                 floor: str | None = None) -> np.ndarray | None:
    """Per-frame absolute errors (n,) of the model (``floor`` None) or of a floor.

    Args:
        arrays: from :func:`load_predictions`.
        metric: ``test_energy_mae_kcal`` (kcal/mol) or ``test_force_mae_kcal``
            (kcal/mol/Å; floors have no forces).
        floor: a name of :data:`FLOOR_KEYS`.

    Returns:
        (n,) float64 errors, or None when the file does not hold that prediction.
    """
    true_key, pred_key = METRIC_KEYS[metric]
    if floor is not None:
        if metric != "test_energy_mae_kcal":
            return None
        pred_key = FLOOR_KEYS[floor]
    if true_key not in arrays or pred_key not in arrays:
        return None
    diff = np.abs(np.asarray(arrays[pred_key], float) - np.asarray(arrays[true_key], float))
    if diff.shape != np.shape(arrays[true_key]):
        raise PredictionFileError(f"{pred_key} has shape {np.shape(arrays[pred_key])}, "
                                  f"{true_key} {np.shape(arrays[true_key])}")
    return diff.reshape(diff.shape[0], -1).mean(axis=1)
