"""From run folders to numbers: one record per run, then mean ± std over seeds.

A record (``results.json``, ``results.csv``) is read from the files of one run folder:
``metrics.csv`` (epochs, training time), ``val_metrics.json`` and ``test_metrics.json``
(the model's and the floors' errors), ``predictions/test.npz`` (per-frame predictions, for
the validity checks of :mod:`.validity`), ``inference.json`` (parameters, speed),
``analysis/latent_scores.json`` (latent scores) and ``symmetry.json`` when present.
Groups are (molecule, model) over seeds, or (molecule, model, n_train) when the study
lists training-set sizes; standard deviations use n-1 (NaN for one seed). Force errors
(kcal/mol/Å) are filled in for runs trained on forces and None otherwise. The
``molecule`` column holds the system's name: an rMD17 molecule, or a data file's name
(its stem, made unique; :mod:`equilens.study.systems`).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from equilens.analysis.table import KINDS, REPRESENTATIONS
from equilens.report.predictions import FLOOR_KEYS, PredictionFileError, load_predictions
from equilens.report.symmetry import read_checks
from equilens.report.validity import best_row, judge_arrays, still_improving, training_evidence
from equilens.study import plan
from equilens.training import rundir

#: Columns of results.csv, in order (results.json has the same keys).
RECORD_COLUMNS = [
    "molecule", "model", "seed", "status", "val_energy_mae_kcal", "val_energy_mae_mev",
    "test_energy_mae_kcal", "test_energy_mae_mev", "test_energy_rmse_kcal",
    "val_force_mae_kcal", "test_force_mae_kcal", "test_force_rmse_kcal",
    "val_mean_predictor_mae_kcal", "test_mean_predictor_mae_kcal", "val_ridge_mae_kcal",
    "test_ridge_mae_kcal", "val_kernel_ridge_mae_kcal", "test_kernel_ridge_mae_kcal",
    "epochs", "best_epoch", "train_time_s", "n_parameters",
    "inference_frames_per_s", "still_improving", "did_not_learn", "did_not_learn_reason",
    "prediction_std_kcal", "true_std_kcal", "ridge_did_not_learn",
    "kernel_ridge_did_not_learn", "latent_energy_r2_probe",
    "latent_energy_r2_knn_2d", "latent_energy_r2_knn_full", "latent_energy_r2_probe_random",
    "latent_energy_r2_knn_2d_random", "latent_geometry_r2_probe", "latent_geometry_r2_knn_2d",
    "latent_geometry_r2_probe_random", "latent_geometry_r2_knn_2d_random",
    *(f"latent_{kind}_{stem}{suffix}" for kind in KINDS
      for stem in ("r2_probe", "r2_kernel") for suffix in ("", "_random", "_geometry")
      if f"latent_{kind}_{stem}{suffix}" not in ("latent_energy_r2_probe",
                                                 "latent_energy_r2_probe_random")),
    "trustworthiness", "trustworthiness_random", "symmetry_passed", "symmetry_max_rel_error",
    "n_train", "n_val", "n_test", "run_dir", "error",
]
#: Numeric record keys aggregated over seeds.
NUMERIC = [c for c in RECORD_COLUMNS if c not in (
    "molecule", "model", "seed", "status", "run_dir", "error", "still_improving",
    "did_not_learn", "did_not_learn_reason", "ridge_did_not_learn",
    "kernel_ridge_did_not_learn", "symmetry_passed", "n_train", "n_val", "n_test")]
#: floor name → the middle of its record keys (``test_<key>_mae_kcal``)
FLOORS = {"mean predictor": "mean_predictor", "ridge on 1/r": "ridge",
          "kernel ridge": "kernel_ridge"}
SCORE_COLUMNS = ("r2_probe", "r2_knn_2d", "r2_knn_full", "r2_probe_random", "r2_knn_2d_random",
                 "r2_knn_full_random", "r2_probe_geometry", "r2_knn_2d_geometry",
                 "r2_knn_full_geometry")


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    """The rows of a run's metrics.csv as floats (empty if absent)."""
    path = Path(run_dir) / rundir.METRICS
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        rows = []
        for row in csv.DictReader(handle):
            try:
                rows.append({k: float(v) for k, v in row.items() if v not in (None, "")})
            except ValueError:
                continue
    return rows


def run_record(run: plan.PlannedRun, error: str | None = None) -> dict[str, Any]:
    """One record per run, read from its folder (missing values are None)."""
    d = run.run_dir
    rec: dict[str, Any] = dict.fromkeys(RECORD_COLUMNS)
    rec.update(molecule=run.molecule, model=run.model, seed=run.seed, run_dir=str(d),
               n_train=run.config.data.n_train, n_val=run.config.data.n_val,
               n_test=run.config.data.n_test, error=error)
    history = read_metrics(d)
    forces = bool(run.config.training.forces)
    if history:
        best = best_row(history, forces)
        rec.update(epochs=len(history), best_epoch=int(best["epoch"]),
                   train_time_s=float(sum(r.get("epoch_time_s", 0.0) for r in history)),
                   still_improving=still_improving(history, forces))
    test = read_json(d / rundir.TEST_METRICS)
    if test:
        rec.update(test_energy_mae_kcal=test["model"]["energy_mae_kcal"],
                   test_energy_mae_mev=test["model"]["energy_mae_mev"],
                   test_energy_rmse_kcal=test["model"]["energy_rmse_kcal"],
                   test_mean_predictor_mae_kcal=test["mean_predictor"]["energy_mae_kcal"],
                   test_ridge_mae_kcal=(test.get("ridge_inverse_distances") or {}).get(
                       "energy_mae_kcal"),
                   test_kernel_ridge_mae_kcal=(test.get("kernel_ridge") or {}).get(
                       "energy_mae_kcal"),
                   test_force_mae_kcal=test["model"].get("force_mae_kcal"),
                   test_force_rmse_kcal=test["model"].get("force_rmse_kcal"))
    val = read_json(d / plan.VAL_METRICS)
    if val:
        rec.update(val_energy_mae_kcal=val["model"]["energy_mae_kcal"],
                   val_energy_mae_mev=val["model"]["energy_mae_mev"],
                   val_mean_predictor_mae_kcal=val["mean_predictor"]["energy_mae_kcal"],
                   val_ridge_mae_kcal=(val.get("ridge_inverse_distances") or {}).get(
                       "energy_mae_kcal"),
                   val_kernel_ridge_mae_kcal=(val.get("kernel_ridge") or {}).get(
                       "energy_mae_kcal"),
                   val_force_mae_kcal=val["model"].get("force_mae_kcal"))
    elif history:  # best epoch's validation MAE equals the best checkpoint's
        best = best_row(history, forces)
        rec.update(val_energy_mae_kcal=best["val_energy_mae_kcal"],
                   val_energy_mae_mev=best.get("val_energy_mae_mev"),
                   val_force_mae_kcal=best.get("val_force_mae_kcal"))
    rec.update(validity_columns(d, test, history, forces))
    inf = read_json(d / plan.INFERENCE)
    if inf:
        rec.update(n_parameters=inf.get("n_parameters"),
                   inference_frames_per_s=inf.get("frames_per_s"))
    scores = read_json(d / plan.SCORES)
    if scores:
        rec.update(_latent_summary(scores))
    checks = read_checks(d)
    if checks and checks.get("results"):
        rec["symmetry_passed"] = checks.get("passed")
        rels = [r["max_rel_error"] for r in checks["results"] if r.get("max_rel_error") is not None]
        rec["symmetry_max_rel_error"] = max(rels) if rels else None
    done = all((d / name).is_file() for name in plan.REQUIRED)
    rec["status"] = "failed" if error else ("done" if done else "incomplete")
    return rec


def validity_columns(run_dir: Path, test: dict | None,
                     history: list[dict[str, float]] | None = None,
                     forces: bool = False) -> dict[str, Any]:
    """``did_not_learn`` (with ``did_not_learn_reason``, and for a run that did not learn
    what its training ``history`` says: :func:`.validity.training_evidence`), the standard
    deviations of the test predictions and true energies (kcal/mol), and whether each
    fitted floor learned (:mod:`.validity`); from ``predictions/test.npz``, else from
    ``test_metrics.json``."""
    try:
        arrays = load_predictions(run_dir)
    except PredictionFileError as err:
        return {"did_not_learn_reason": f"unreadable predictions: {err}"}
    model = judge_arrays(arrays, test)
    evidence = training_evidence(history or [], forces) if model.did_not_learn else None
    reason = "; ".join(filter(None, (model.reason, evidence))) or None
    out = {"did_not_learn": model.did_not_learn, "did_not_learn_reason": reason,
           "prediction_std_kcal": model.prediction_std_kcal,
           "true_std_kcal": model.true_std_kcal}
    for name, column in (("ridge on 1/r", "ridge_did_not_learn"),
                         ("kernel ridge", "kernel_ridge_did_not_learn")):
        out[column] = judge_arrays(arrays, None, FLOOR_KEYS[name]).did_not_learn
    return out


def _latent_summary(scores: dict) -> dict[str, Any]:
    rows = scores.get("rows", [])
    energy = next((r for r in rows if r["target"] == "energy"), None)
    geometry = [r for r in rows if r["target"] != "energy"]
    out: dict[str, Any] = {}
    if energy:
        out |= {"latent_energy_r2_probe": energy["r2_probe"],
                "latent_energy_r2_knn_2d": energy["r2_knn_2d"],
                "latent_energy_r2_knn_full": energy["r2_knn_full"],
                "latent_energy_r2_probe_random": energy["r2_probe_random"],
                "latent_energy_r2_knn_2d_random": energy["r2_knn_2d_random"]}
    if geometry:
        def mean(col: str) -> float:
            return float(np.mean([r[col] for r in geometry]))
        out |= {"latent_geometry_r2_probe": mean("r2_probe"),
                "latent_geometry_r2_knn_2d": mean("r2_knn_2d"),
                "latent_geometry_r2_probe_random": mean("r2_probe_random"),
                "latent_geometry_r2_knn_2d_random": mean("r2_knn_2d_random")}
    out |= _by_kind(scores.get("by_kind") or {})
    trust = scores.get("trustworthiness") or {}
    out |= {"trustworthiness": trust.get("trained"), "trustworthiness_random": trust.get("random")}
    return out


def _by_kind(by_kind: dict) -> dict[str, Any]:
    """``latent_<kind>_<r2_probe|r2_kernel><suffix>``: the mean score over the kind's
    targets (energy: the one target) of the trained latent, the random-weights latent and
    the geometry control, from ``latent_scores.json``'s ``by_kind``."""
    out: dict[str, Any] = {}
    for kind, entry in by_kind.items():
        for rep, suffix in REPRESENTATIONS.items():
            for stem in ("r2_probe", "r2_kernel"):
                value = (entry.get(rep) or {}).get(stem)
                if value is not None:
                    out[f"latent_{kind}_{stem}{suffix}"] = value
    return out


def stats(values: Iterable[Any]) -> dict[str, Any]:
    """mean, std (n-1; NaN for n=1) and n of the finite values (None when empty)."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not xs:
        return {"mean": None, "std": None, "n": 0}
    std = float(np.std(xs, ddof=1)) if len(xs) > 1 else float("nan")
    return {"mean": float(np.mean(xs)), "std": std, "n": len(xs), "values": xs}


def at_size(records: list[dict[str, Any]], size: int | None) -> list[dict[str, Any]]:
    """The records of one training-set size (all of them for ``None``)."""
    return [r for r in records if size is None or r["n_train"] == size]


def _common(recs: list[dict[str, Any]], key: str) -> Any:
    """The value every record shares under ``key`` (None if they differ or are none)."""
    values = {r[key] for r in recs}
    return values.pop() if len(values) == 1 else None


def group_records(records: list[dict[str, Any]], molecules: list[str], models: list[str],
                  train_sizes: list[int] | tuple[int, ...] = ()) -> list[dict[str, Any]]:
    """One group per (molecule, model), or per (molecule, model, n_train) when
    ``train_sizes`` is given, with ``stats`` of every numeric key over seeds."""
    groups = []
    for mol in molecules:
        for model in models:
            for size in list(train_sizes) or [None]:
                recs = [r for r in at_size(records, size) if r["molecule"] == mol
                        and r["model"] == model and r["status"] == "done"]
                groups.append(_group(mol, model, size, recs))
    return groups


def _group(mol: str, model: str, size: int | None, recs: list[dict[str, Any]]) -> dict[str, Any]:
    group: dict[str, Any] = {"molecule": mol, "model": model,
                             "n_train": size if size is not None else _common(recs, "n_train"),
                             "n_seeds": len(recs), "seeds": [r["seed"] for r in recs]}
    for key in NUMERIC:
        group[key] = stats(r[key] for r in recs)
    for flag in ("still_improving", "did_not_learn"):
        known = [r for r in recs if r.get(flag) is not None]
        group[flag] = (sum(bool(r[flag]) for r in known) / len(known)) if known else None
        group[f"{flag}_seeds"] = [r["seed"] for r in known if r[flag]]
    passed = [r["symmetry_passed"] for r in recs if r["symmetry_passed"] is not None]
    group["symmetry_passed"] = all(passed) if passed else None
    return group


def floors(records: list[dict[str, Any]], molecules: list[str],
           train_sizes: list[int] | tuple[int, ...] = ()) -> list[dict[str, Any]]:
    """The floors per molecule (and training-set size, when ``train_sizes`` is given), one
    value per seed (the split follows the seed; every floor is fitted on the training
    frames): the mean predictor and ridge on 1/r, and kernel ridge when a run has it.
    ``did_not_learn``: the seeds where a fitted floor did not learn (:mod:`.validity`)."""
    out = []
    for mol in molecules:
        for size in list(train_sizes) or [None]:
            per_seed: dict[int, dict[str, Any]] = {}
            for r in at_size(records, size):
                if r["molecule"] == mol and r["status"] == "done" and r["seed"] not in per_seed:
                    per_seed[r["seed"]] = r
            recs = list(per_seed.values())
            n_train = size if size is not None else _common(recs, "n_train")
            for name, key in FLOORS.items():
                val = stats(r.get(f"val_{key}_mae_kcal") for r in recs)
                test = stats(r.get(f"test_{key}_mae_kcal") for r in recs)
                if key == "kernel_ridge" and not test["n"]:
                    continue
                out.append({"molecule": mol, "name": name, "n_train": n_train,
                            "val_energy_mae_kcal": val, "test_energy_mae_kcal": test,
                            "n_seeds": len(recs), "did_not_learn": [
                                r["seed"] for r in recs if r.get(f"{key}_did_not_learn")]})
    return out


def result_blocks(groups: list[dict[str, Any]], floors: list[dict[str, Any]],
                  molecules: list[str], train_sizes: list[int] | tuple[int, ...] = ()
                  ) -> list[dict[str, Any]]:
    """The rows of the results table in blocks of one molecule (and training-set size):
    ``{"molecule", "n_train", "floors", "groups"}``, groups without a finished run left out."""
    blocks = []
    for mol in molecules:
        for size in list(train_sizes) or [None]:
            blocks.append({"molecule": mol, "n_train": size,
                           "floors": [f for f in floors if _in_block(f, mol, size)],
                           "groups": [g for g in groups if _in_block(g, mol, size)
                                      and g["n_seeds"]]})
    return blocks


def _in_block(row: dict[str, Any], molecule: str, size: int | None) -> bool:
    return row["molecule"] == molecule and (size is None or row["n_train"] == size)


def latent_table(records: list[dict[str, Any]], molecules: list[str],
                 models: list[str]) -> list[dict[str, Any]]:
    """Every latent score of every target, mean ± std over seeds, per molecule × model."""
    out = []
    for mol in molecules:
        for model in models:
            per_target: dict[str, list[dict]] = {}
            meta: dict[str, dict] = {}
            for r in records:
                if r["molecule"] != mol or r["model"] != model or r["status"] != "done":
                    continue
                scores = read_json(Path(r["run_dir"]) / plan.SCORES) or {}
                for row in scores.get("rows", []):
                    per_target.setdefault(row["target"], []).append(row)
                    meta[row["target"]] = row
            for target, rows in per_target.items():
                entry = {"molecule": mol, "model": model, "target": target,
                         "kind": meta[target].get("kind"), "unit": meta[target].get("unit"),
                         "n_seeds": len(rows)}
                for col in SCORE_COLUMNS:
                    s = stats(row.get(col) for row in rows)
                    entry[f"{col}_mean"], entry[f"{col}_std"] = s["mean"], s["std"]
                out.append(entry)
    return out


LATENT_CSV_COLUMNS = ["molecule", "model", "target", "kind", "unit", "n_seeds"] + [
    f"{c}_{s}" for c in SCORE_COLUMNS for s in ("mean", "std")]


def symmetry_table(records: list[dict[str, Any]], molecules: list[str],
                   models: list[str]) -> list[dict[str, Any]]:
    """Per molecule × model over seeds: checks passed, and per dtype the check closest to
    its tolerance (largest max_rel_error / tolerance); ``checks`` has every check's worst."""
    out = []
    for mol in molecules:
        for model in models:
            rows, errors, n_runs = [], [], 0
            for r in records:
                if r["molecule"] != mol or r["model"] != model:
                    continue
                checks = read_checks(r["run_dir"])
                if not checks:
                    continue
                n_runs += 1
                if checks.get("error"):
                    errors.append(checks["error"])
                rows += checks.get("results", [])
            if not rows and not errors:
                continue
            worst: dict[str, dict[str, Any]] = {}
            per_check: dict[tuple[str, str], dict[str, Any]] = {}
            for x in rows:
                dtype = x.get("dtype") or "-"
                ratio = _ratio(x)
                if ratio is not None and ratio >= worst.get(dtype, {}).get("ratio", -1.0):
                    worst[dtype] = {"check": x["check"], "max_rel_error": x["max_rel_error"],
                                    "tolerance": x["tolerance"], "ratio": ratio}
                key = (x["check"], dtype)
                prev = per_check.get(key)
                if prev is None or (ratio or 0) > (_ratio(prev) or 0) or not x["passed"]:
                    per_check[key] = {**x, "dtype": dtype, "passed": x["passed"] and (
                        prev is None or prev["passed"])}
            failed = sorted({f"{x['check']} ({x.get('dtype') or '-'})" for x in rows
                             if not x["passed"]})
            out.append({"molecule": mol, "model": model, "n_runs": n_runs,
                        "n_checks": len(rows), "n_passed": sum(bool(x["passed"]) for x in rows),
                        "worst": worst, "failed": failed, "error": errors[0] if errors else None,
                        "checks": list(per_check.values())})
    return out


def _ratio(x: dict[str, Any]) -> float | None:
    rel, tol = x.get("max_rel_error"), x.get("tolerance")
    if rel is None or not tol:
        return None
    return float(rel) / float(tol)


def _csv_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return ""
    return "" if value is None else value


def write_results(out: Path, records: list[dict[str, Any]], summary: dict[str, Any],
                  latent: list[dict[str, Any]]) -> None:
    """results.json (one record per run), results.csv, summary.json, latent_scores.csv."""
    from equilens.io import write_csv, write_json

    write_json(out / "results.json", [jsonable(r) for r in records])
    write_csv(out / "results.csv", [{k: _csv_value(r.get(k)) for k in RECORD_COLUMNS}
                                    for r in records], RECORD_COLUMNS)
    write_json(out / "summary.json", jsonable(summary))
    write_csv(out / "latent_scores.csv", [{k: _csv_value(r.get(k)) for k in LATENT_CSV_COLUMNS}
                                          for r in latent], LATENT_CSV_COLUMNS)


def jsonable(obj: Any) -> Any:
    """NaN → None recursively (JSON has no NaN)."""
    if isinstance(obj, float):
        return None if math.isnan(obj) else obj
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj
