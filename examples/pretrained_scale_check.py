"""Would a pretrained model need an energy scale beside its offset? A check on a study.

For every pretrained run of a study folder (runs with ``pretrained.json``), fits
true = scale · predicted + shift by least squares on the run's validation predictions and
applies it to its test frames; prints, per system and model (mean over seeds), the test
energy MAE with the offset alone (what the study reports), with the fitted scale and shift,
and the scale. A scale is worth fitting only where the second column is clearly lower.

    python examples/pretrained_scale_check.py runs/foundation-study
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np


def scale_check(run: Path) -> tuple[float, float, float]:
    """(test MAE with the offset, test MAE with a scale and shift fitted on val, the scale)."""
    val, test = (np.load(run / "predictions" / f"{s}.npz") for s in ("val", "test"))
    pred_v, true_v = val["energy_pred_kcal"], val["energy_true_kcal"]
    pred_t, true_t = test["energy_pred_kcal"], test["energy_true_kcal"]
    centre = pred_v.mean()
    design = np.column_stack([pred_v - centre, np.ones_like(pred_v)])
    (scale, shift), *_ = np.linalg.lstsq(design, true_v, rcond=None)
    scaled = scale * (pred_t - centre) + shift
    return float(np.abs(pred_t - true_t).mean()), float(np.abs(scaled - true_t).mean()), float(scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="a study folder")
    args = parser.parse_args()
    rows = defaultdict(list)
    for marker in sorted(args.study.glob("runs/*/*/seed*/pretrained.json")):
        run = marker.parent
        rows[(run.parents[1].name, run.parent.name)].append(scale_check(run))
    if not rows:
        raise SystemExit(f"{args.study}: no pretrained runs (runs/*/*/seed*/pretrained.json)")
    print(f"{'system':12s}{'model':12s}{'seeds':>6s}{'MAE offset':>12s}{'MAE scaled':>12s}{'scale':>8s}")
    for (system, model), values in rows.items():
        offset, scaled, scale = np.mean(values, axis=0)
        print(f"{system:12s}{model:12s}{len(values):6d}{offset:12.3f}{scaled:12.3f}{scale:8.3f}")


if __name__ == "__main__":
    main()
