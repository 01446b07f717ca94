"""How low are the floors? Test energy MAE of the mean predictor, ridge and kernel ridge.

For each molecule: the frames of a default run (``equilens train --molecule M``: rMD17
split 01, seed 0, 1000 training frames, 500 test frames), the floors fitted on the
training frames only, scored on the test frames. Kernel ridge is fitted with the
Gaussian (rbf) and the Laplacian kernel, each with its own leave-one-out choice of
(alpha, gamma). Writes ``benchmarks/results/floors-<date>.md`` and ``.json``.

    python benchmarks/floors.py --data-dir ../shared/data/rmd17 --molecules ethanol toluene aspirin
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

import numpy as np

from equilens.training import load_config, load_splits
from equilens.training.baselines import (
    KRR_ALPHAS,
    KRR_GAMMAS,
    fit_kernel_ridge,
    inverse_distances,
    mean_predictor,
    ridge_inverse_distances,
)

RESULTS = Path(__file__).resolve().parent / "results"


def measure(molecule: str, data_dir: str | None, seed: int) -> dict:
    """MAE/RMSE (kcal/mol) of every floor on the test frames of a default run."""
    config = load_config(overrides={"data.molecule": molecule, "data.data_dir": data_dir,
                                    "training.seed": seed})
    splits = load_splits(config)
    train, test = splits.train, splits.test
    n_pairs = inverse_distances(test).shape[1]
    rows = {}

    def score(name: str, pred: np.ndarray, **extra) -> None:
        err = pred - test.energy
        rows[name] = {"mae_kcal": float(np.abs(err).mean()),
                      "rmse_kcal": float(np.sqrt((err**2).mean())), **extra}

    score("mean predictor", mean_predictor(train, test))
    t0 = time.perf_counter()
    score("ridge on 1/r", ridge_inverse_distances(train, test),
          fit_time_s=time.perf_counter() - t0)
    for kernel in ("rbf", "laplacian"):
        floor = fit_kernel_ridge(train, kernel)
        at_edge = (floor.alpha in (KRR_ALPHAS[0], KRR_ALPHAS[-1])
                   or np.isclose(floor.gamma * n_pairs, KRR_GAMMAS[[0, -1]]).any())
        score(f"kernel ridge ({kernel})", floor.predict(test), alpha=floor.alpha,
              gamma=floor.gamma, gamma_times_pairs=floor.gamma * n_pairs,
              cv_mae_kcal=floor.cv_mae_kcal, fit_time_s=floor.fit_time_s,
              at_grid_edge=bool(at_edge))
    return {"molecule": molecule, "n_train": len(train), "n_test": len(test), "seed": seed,
            "split": config.data.split, "labels": config.data.labels, "n_pairs": n_pairs,
            "true_std_kcal": float(test.energy.std()), "floors": rows}


def report(results: list[dict]) -> str:
    lines = ["# Floors on rMD17: test energy MAE (kcal/mol)", "",
             f"{date.today().isoformat()}; frames of a default run (split 01, seed 0, "
             "1000 train, 500 test); kernel ridge on standardised 1/r_ij, (alpha, gamma) by "
             "leave-one-out MAE on the training frames; fit time on one thread.", "",
             "| molecule | floor | MAE | RMSE | alpha | gamma × pairs | LOO MAE | fit s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        for name, f in r["floors"].items():
            hyper = (f"{f['alpha']:.0e} | {f['gamma_times_pairs']:.3g}"
                     f"{' (edge)' if f['at_grid_edge'] else ''} | {f['cv_mae_kcal']:.3f}"
                     if "alpha" in f else " |  | ")
            fit = f"{f['fit_time_s']:.1f}" if "fit_time_s" in f else ""
            lines.append(f"| {r['molecule']} | {name} | {f['mae_kcal']:.3f} | "
                         f"{f['rmse_kcal']:.3f} | {hyper} | {fit} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", nargs="+", default=["ethanol", "toluene", "aspirin"])
    parser.add_argument("--data-dir")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    results = []
    for molecule in args.molecules:
        results.append(measure(molecule, args.data_dir, args.seed))
        print(json.dumps(results[-1]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"floors-{date.today().isoformat()}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
