"""Every paired comparison of a study, and its verdict.

For each molecule: every model against every other (in the study's order, A before B),
and every model against each floor (mean predictor, ridge on 1/r, kernel ridge), on the
test energy MAE, and model against model on the test force MAE when the runs were trained
on forces. Each comparison pairs the runs of the same seed frame by frame
(:func:`equilens.report.paired.align` on ``frame_ids``) and is summarised by
:func:`equilens.report.paired.paired_comparison`.

**Verdicts** (of A relative to B; lower MAE is better), four and only four:

- ``not comparable``: neither A nor B learned (:mod:`.validity`; the mean predictor is
  the reference and never learns);
- ``better`` / ``worse``: exactly one of them learned (the one that learned is better),
  or both learned and the Holm-adjusted p-value is below :data:`ALPHA` (then the sign
  of Δ decides);
- ``no difference detected``: both learned and the adjusted p is not below it; the
  interval says how large a difference the design could have missed.

A model learned on a molecule when none of its runs did not learn; a run whose validity
is unknown (no predictions, no standard deviations) counts as learned. Holm's adjustment
runs over every comparison of the study decided by a test (both sides learned).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from equilens.report.paired import (ALPHA, N_RESAMPLES, PairingError, align,
                                    bootstrap_columns, holm, paired_comparison, summarise)
from equilens.report.predictions import (FLOOR_KEYS, METRIC_KEYS, PredictionFileError,
                                         frame_errors, load_predictions)

VERDICTS = ("better", "worse", "no difference detected", "not comparable")
FLOORS = tuple(FLOOR_KEYS)
REFERENCE = "mean predictor"
METRIC_WORDS = {"test_energy_mae_kcal": ("test energy MAE", "kcal/mol"),
                "test_force_mae_kcal": ("test force MAE", "kcal/mol/Å")}
#: the record keys of a floor's "did not learn" flag
_FLOOR_FLAGS = {"ridge on 1/r": "ridge_did_not_learn",
                "kernel ridge": "kernel_ridge_did_not_learn"}


@dataclass
class MoleculeFrames:
    """One molecule's per-frame errors, the input of :func:`study_comparisons`.

    ``errors[metric][name][seed] = (frame_ids (n,) int64, abs errors (n,))`` for every
    model spec and floor name; ``not_learned[name][seed]`` the reason a run did not learn
    (only for runs that did not); ``still_improving[name]`` the seeds whose run was still
    improving; ``missing`` the runs without per-frame predictions (labels).
    """

    molecule: str
    errors: dict[str, dict[str, dict[int, tuple[np.ndarray, np.ndarray]]]] = field(
        default_factory=dict)
    not_learned: dict[str, dict[int, str]] = field(default_factory=dict)
    still_improving: dict[str, list[int]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def add(self, metric: str, name: str, seed: int, ids: np.ndarray, err: np.ndarray) -> None:
        self.errors.setdefault(metric, {}).setdefault(name, {})[seed] = (ids, err)

    def seeds(self, name: str) -> list[int]:
        return sorted({s for m in self.errors.values() for s in m.get(name, {})})

    def seeds_of_any(self) -> set[str]:
        """Every model or floor name with errors."""
        return {n for m in self.errors.values() for n, per in m.items() if per}

    def learned(self, name: str) -> bool:
        return name != REFERENCE and not self.not_learned.get(name)


def read_frames(records: list[dict[str, Any]], molecule: str,
                models: list[str]) -> MoleculeFrames:
    """The per-frame errors of one molecule's finished runs (``predictions/test.npz``) and
    their validity flags (record columns ``did_not_learn``, ``ridge_did_not_learn``, ...).

    A seed's floors are read from its first run that holds them (every model of a seed
    has the same split and the same floors)."""
    out = MoleculeFrames(molecule)
    for r in records:
        if r["molecule"] != molecule or r["model"] not in models or r["status"] != "done":
            continue
        seed, model = int(r["seed"]), r["model"]
        if r.get("did_not_learn"):
            out.not_learned.setdefault(model, {})[seed] = r.get("did_not_learn_reason") or ""
        if r.get("still_improving"):
            out.still_improving.setdefault(model, []).append(seed)
        try:
            arrays = load_predictions(Path(r["run_dir"]))
        except PredictionFileError as err:
            out.missing.append(f"{model} seed {seed} ({err})")
            continue
        if arrays is None:
            out.missing.append(f"{model} seed {seed}")
            continue
        _add_run(out, arrays, model, seed, r)
    return out


def _add_run(out: MoleculeFrames, arrays: dict[str, np.ndarray], model: str, seed: int,
             record: dict[str, Any]) -> None:
    ids = arrays["frame_ids"]
    for metric in METRIC_KEYS:
        err = frame_errors(arrays, metric)
        if err is not None:
            out.add(metric, model, seed, ids, err)
    energy = out.errors["test_energy_mae_kcal"]
    for floor in FLOORS:
        err = frame_errors(arrays, "test_energy_mae_kcal", floor)
        if err is None or seed in energy.get(floor, {}):
            continue
        out.add("test_energy_mae_kcal", floor, seed, ids, err)
        if floor == REFERENCE or record.get(_FLOOR_FLAGS[floor]):
            reason = ("the reference: it predicts the training mean" if floor == REFERENCE
                      else "test MAE not below the mean predictor's, or nearly constant")
            out.not_learned.setdefault(floor, {})[seed] = reason


def pairs(frames: MoleculeFrames, models: list[str]) -> list[tuple[str, str, str]]:
    """``(metric, a, b)`` of every comparison of one molecule that has data on both sides."""
    out = []
    for metric in METRIC_KEYS:
        have = frames.errors.get(metric, {})
        present = [m for m in models if have.get(m)]
        for i, a in enumerate(present):
            out += [(metric, a, b) for b in present[i + 1:]]
        if metric == "test_energy_mae_kcal":
            out += [(metric, a, f) for a in present for f in FLOORS if have.get(f)]
    return out


def shared_bootstrap(frames: MoleculeFrames, metric: str, names: list[str],
                     n_resamples: int = N_RESAMPLES) -> dict[str, np.ndarray]:
    """Resampled MAEs (B,) of every name whose seeds and frames are those most names have,
    from one bootstrap (the same resamples for all: cheaper, and every comparison of the
    molecule sees the same resampled frames). Empty when fewer than two names qualify."""
    data = frames.errors.get(metric, {})
    names = [n for n in names if data.get(n)]
    if len(names) < 2:
        return {}
    layouts = [frozenset(data[n]) for n in names]  # the most common seed set leads
    ref = data[names[max(range(len(names)), key=lambda i: layouts.count(layouts[i]))]]
    members = [n for n in names if set(data.get(n, {})) == set(ref) and all(
        np.array_equal(data[n][s][0], ref[s][0]) for s in ref)]
    if len(members) < 2:
        return {}
    seeds = sorted(ref)
    blocks = [np.column_stack([data[n][s][1] for n in members]) for s in seeds]
    boot = bootstrap_columns(blocks, n_resamples,
                             zlib.crc32(f"{frames.molecule}|{metric}".encode()))
    return {n: boot[:, j] for j, n in enumerate(members)}


def compare_pair(frames: MoleculeFrames, metric: str, a: str, b: str,
                 n_resamples: int = N_RESAMPLES,
                 shared: dict[str, np.ndarray] | None = None) -> dict[str, Any] | None:
    """The comparison record of A against B before the verdict (None: no common seed).

    ``shared``: resampled MAEs from :func:`shared_bootstrap`, used when it has A and B.

    Raises:
        PairingError: a seed's runs share no test frame.
    """
    ea, eb = frames.errors[metric][a], frames.errors[metric][b]
    seeds = sorted(set(ea) & set(eb))
    if not seeds:
        return None
    xa, xb = [], []
    for s in seeds:
        pa, pb = align(ea[s][0], ea[s][1], eb[s][0], eb[s][1])
        xa.append(pa)
        xb.append(pb)
    if shared and a in shared and b in shared:
        res = summarise(xa, xb, shared[a], shared[b])
    else:
        key = f"{frames.molecule}|{metric}|{a}|{b}".encode()
        res = paired_comparison(xa, xb, n_resamples, seed=zlib.crc32(key))
    spread = (lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else None)
    return {"molecule": frames.molecule, "metric": metric, "quantity": metric, "a": a, "b": b,
            "diff_mean": res.diff_mean, "ci_low": res.ci_low, "ci_high": res.ci_high,
            "ratio": res.ratio, "ratio_ci_low": res.ratio_ci_low,
            "ratio_ci_high": res.ratio_ci_high, "p_value": res.p_value, "p_adjusted": None,
            "verdict": None, "basis": None, "n_seeds": res.n_seeds, "n_frames": res.n_frames,
            "seeds": seeds, "mean_a": res.mae_a, "mean_b": res.mae_b,
            "std_a": spread(res.seed_mae_a), "std_b": spread(res.seed_mae_b),
            "a_learned": frames.learned(a), "b_learned": frames.learned(b),
            "zero_spread": res.zero_spread}


def study_comparisons(molecules: list[MoleculeFrames], models: list[str],
                      n_resamples: int = N_RESAMPLES) -> list[dict[str, Any]]:
    """Every comparison of the study with its Holm-adjusted p and verdict (see module).

    Each record: ``molecule``, ``metric`` (also as ``quantity``, the key of older
    summaries), ``a``, ``b``, ``diff_mean`` (A − B),
    ``ci_low``, ``ci_high`` (95%), ``ratio`` (A / B) with ``ratio_ci_low``/``_high``,
    ``p_value``, ``p_adjusted`` (Holm; None when validity decided), ``verdict``,
    ``basis`` ("paired bootstrap" or "validity"), ``n_seeds``, ``n_frames`` (paired
    frames summed over seeds), ``seeds``, ``mean_a``/``mean_b`` (MAE, mean over seeds),
    ``std_a``/``std_b`` (over seeds), ``a_learned``, ``b_learned``, ``zero_spread``,
    ``n_tests`` (size of the Holm family).
    """
    out = []
    for frames in molecules:
        names = [n for n in list(models) + list(FLOORS) if n in frames.seeds_of_any()]
        shared = {metric: shared_bootstrap(frames, metric, names, n_resamples)
                  for metric in frames.errors}
        for metric, a, b in pairs(frames, models):
            try:
                rec = compare_pair(frames, metric, a, b, n_resamples, shared[metric])
            except PairingError as err:
                raise PairingError(f"{frames.molecule} {a} vs {b}: {err}") from None
            if rec is not None:
                out.append(rec)
    tested = [c for c in out if c["a_learned"] and c["b_learned"]]
    for c, p in zip(tested, holm([c["p_value"] for c in tested])):
        c["p_adjusted"] = float(p)
    for c in out:
        c["verdict"], c["basis"] = verdict(c)
        c["n_tests"] = len(tested)
    return out


def verdict(c: dict[str, Any]) -> tuple[str, str]:
    """``(verdict, basis)`` of one comparison record (see the module docstring)."""
    if not c["a_learned"] and not c["b_learned"]:
        return "not comparable", "validity"
    if c["a_learned"] != c["b_learned"]:
        return ("better" if c["a_learned"] else "worse"), "validity"
    if c["p_adjusted"] is not None and c["p_adjusted"] < ALPHA and c["diff_mean"] != 0:
        return ("better" if c["diff_mean"] < 0 else "worse"), "paired bootstrap"
    return "no difference detected", "paired bootstrap"
