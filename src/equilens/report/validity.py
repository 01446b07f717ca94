"""Validity before comparison: did a run learn, and had it stopped improving?

A run **did not learn** when

- the standard deviation of its test predictions is below :data:`COLLAPSE_FRACTION` of
  the true energies' (the predictions are nearly constant: a collapsed model), or
- its test MAE interval does not lie below the mean predictor's: the 95% bootstrap
  interval of MAE(run) − MAE(mean predictor), paired on the test frames
  (:func:`equilens.report.paired.paired_comparison` with one seed), reaches zero or above.

Without per-frame predictions (older runs) the standard deviations come from
``test_metrics.json`` when it has them and the two MAEs are compared as numbers (there
is no interval). A floor fitted on the training frames (ridge on 1/r, kernel ridge) is
judged by the same rules; the mean predictor is the reference and never learns.

A run that did not learn also gets what its training history says
(:func:`training_evidence`): whether its training error fell, and from which epoch the
tested checkpoint comes.

A run is **still improving** when its best epoch (the best checkpoint's) lies in the
last :data:`IMPROVING_FRACTION` of its epochs: its errors are not converged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from equilens.report.paired import paired_comparison

COLLAPSE_FRACTION = 0.10
IMPROVING_FRACTION = 0.10
#: bootstrap resamples of the per-run interval against the mean predictor (a screen)
N_RESAMPLES = 2000


@dataclass(frozen=True)
class Validity:
    """Whether one set of test predictions learned anything, and why not."""

    did_not_learn: bool | None
    reason: str | None
    prediction_std_kcal: float | None
    true_std_kcal: float | None
    mae_kcal: float | None
    mean_predictor_mae_kcal: float | None
    ci_vs_mean_predictor: tuple[float, float] | None  # kcal/mol, run − mean predictor


def best_row(history: list[dict[str, float]], forces: bool) -> dict[str, float]:
    """The epoch of the best checkpoint: lowest validation force MAE for a run trained on
    forces (what the trainer monitors), lowest validation energy MAE otherwise."""
    key = "val_force_mae_kcal" if forces and "val_force_mae_kcal" in history[0] \
        else "val_energy_mae_kcal"
    return min(history, key=lambda r: r[key])


def still_improving(history: list[dict[str, float]], forces: bool = False) -> bool | None:
    """Whether the best epoch lies in the last 10% of the epochs (at least the last one);
    None with fewer than two epochs or without validation MAEs."""
    rows = [r for r in history if "val_energy_mae_kcal" in r]
    if len(rows) < 2:
        return None
    best = best_row(rows, forces)
    position = next(i for i, r in enumerate(rows) if r is best)
    tail = max(1, math.ceil(IMPROVING_FRACTION * len(rows)))
    return position >= len(rows) - tail


def training_evidence(history: list[dict[str, float]], forces: bool = False) -> str | None:
    """What the training history says of a run that did not learn: whether its training
    energy MAE fell (kcal/mol, first to last epoch) and from which epoch its best
    checkpoint, the one tested, comes. A training error that fell while the best checkpoint
    is an early one points at validation (the model fitted its training frames without
    improving on the validation frames); one that did not fall points at optimisation.
    None without a history."""
    rows = [r for r in history if "val_energy_mae_kcal" in r and "train_energy_mae_kcal" in r]
    if not rows:
        return None
    best = best_row(rows, forces)
    first, last = rows[0]["train_energy_mae_kcal"], rows[-1]["train_energy_mae_kcal"]
    return (f"training MAE {first:.3g} → {last:.3g} kcal/mol from epoch 1 to {len(rows)}, "
            f"the tested checkpoint from epoch {int(best['epoch'])}")


def judge(pred: np.ndarray, true: np.ndarray, mean_pred: np.ndarray | None) -> Validity:
    """Validity of per-frame energy predictions.

    Args:
        pred: (n,) predicted energies, kcal/mol.
        true: (n,) true energies, kcal/mol.
        mean_pred: (n,) the mean predictor's energies on the same frames (None: unknown).
    """
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    sp, st = float(np.std(pred)), float(np.std(true))
    mae = float(np.mean(np.abs(pred - true)))
    reasons = []
    if sp < COLLAPSE_FRACTION * st:
        reasons.append(f"predictions nearly constant (std {sp:.3g} against {st:.3g} "
                       "kcal/mol of the true energies)")
    ci = mp_mae = None
    if mean_pred is not None:
        e_mp = np.abs(np.asarray(mean_pred, float) - true)
        mp_mae = float(e_mp.mean())
        res = paired_comparison([np.abs(pred - true)], [e_mp], N_RESAMPLES)
        ci = (res.ci_low, res.ci_high)
        if res.ci_high >= 0:
            reasons.append(f"test MAE {mae:.3g} not below the mean predictor's {mp_mae:.3g} "
                           f"kcal/mol (95% interval of the difference {res.ci_low:+.3g} to "
                           f"{res.ci_high:+.3g})")
    return Validity(bool(reasons), "; ".join(reasons) or None, sp, st, mae, mp_mae, ci)


def judge_metrics(test: dict[str, Any] | None) -> Validity:
    """Validity from ``test_metrics.json`` alone (no per-frame predictions): the standard
    deviations when recorded (top level or under ``model``), the MAEs as numbers."""
    if not test or not test.get("model"):
        return Validity(None, None, None, None, None, None, None)
    model = test["model"]
    sp = test.get("prediction_std_kcal", model.get("prediction_std_kcal"))
    st = test.get("true_std_kcal", model.get("true_std_kcal"))
    mae = model.get("energy_mae_kcal")
    mp = (test.get("mean_predictor") or {}).get("energy_mae_kcal")
    reasons = []
    if sp is not None and st is not None and sp < COLLAPSE_FRACTION * st:
        reasons.append(f"predictions nearly constant (std {sp:.3g} against {st:.3g} "
                       "kcal/mol of the true energies)")
    if mae is not None and mp is not None and mae >= mp:
        reasons.append(f"test MAE {mae:.3g} not below the mean predictor's {mp:.3g} kcal/mol")
    known = (sp is not None and st is not None) or (mae is not None and mp is not None)
    return Validity(bool(reasons) if known else None, "; ".join(reasons) or None, sp, st,
                    mae, mp, None)


def judge_arrays(arrays: dict[str, np.ndarray] | None, test: dict[str, Any] | None,
                 floor_key: str | None = None) -> Validity:
    """Validity of the model (``floor_key`` None) or of a floor's predictions in one
    run's ``predictions/test.npz`` arrays; falls back to :func:`judge_metrics` for the
    model when the file is absent. The mean predictor itself is never judged here."""
    if arrays is None:
        return judge_metrics(test) if floor_key is None else Validity(
            None, None, None, None, None, None, None)
    pred_key = floor_key or "energy_pred_kcal"
    if pred_key not in arrays:
        return Validity(None, None, None, None, None, None, None)
    mean_pred = arrays.get("mean_predictor_energy_pred_kcal")
    out = judge(arrays[pred_key], arrays["energy_true_kcal"], mean_pred)
    if mean_pred is None and floor_key is None:  # the MAEs of test_metrics.json, as numbers
        numbers = judge_metrics(test)
        if numbers.reason and "mean predictor" in numbers.reason:
            reason = "; ".join(r for r in (out.reason, numbers.reason.split("; ")[-1]) if r)
            out = Validity(True, reason, out.prediction_std_kcal, out.true_std_kcal,
                           out.mae_kcal, numbers.mean_predictor_mae_kcal, None)
    return out
