"""Sample efficiency: test error against the number of training frames.

With ``train_sizes`` a study trains every model on each training-set size. On log-log
axes a learning curve is close to a straight line, MAE ≈ a·n^b. The slope b is fitted by
least squares of log MAE on log n over every seed's points (more negative: the error
falls faster as data is added). Its seed spread is the standard deviation (n-1) of the
slopes fitted to each seed alone. Two models' slopes are compared seed by seed (seed k
gives both models the same frames at every size): a paired t-test over their per-seed
slopes, Holm-adjusted over every slope comparison of the study, with the four verdicts of
:mod:`.seed_verdicts` (a model that beats the mean predictor at no size did not learn).

For rMD17 the ``n`` training frames of a seed are the first ``n`` of one shuffle of the
split's training file, so the smaller sets are inside the larger ones, and the validation
and test frames of a seed are the same at every size.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from equilens.report.aggregate import stats
from equilens.report.conclusion import Conclusion, fmt, model_kind
from equilens.report.seed_verdicts import decide, method_text, seed_record

#: quantity → (record key, words, unit)
QUANTITIES: dict[str, tuple[str, str, str]] = {
    "energy": ("test_energy_mae_kcal", "test energy MAE", "kcal/mol"),
    "forces": ("test_force_mae_kcal", "test force MAE", "kcal/mol/Å"),
}
#: How the slopes and their spread are computed, for the report and summary.json.
METHOD = ("least squares of log(test MAE) on log(training frames) over every seed's "
          "points; spread: std (n-1) of the slopes fitted to each seed alone; verdicts: "
          "paired t-test over the per-seed slopes of the common seeds, Holm-adjusted over "
          "the study's slope comparisons (a difference when the adjusted p < 0.05)")


def fit_slope(n_train: Any, mae: Any) -> tuple[float, float]:
    """The line through (log n, log MAE) by least squares.

    Args:
        n_train: (k,) training-set sizes, frames (> 0).
        mae: (k,) errors at those sizes, any unit (> 0).

    Returns:
        ``(slope, prefactor)`` of MAE ≈ prefactor · n^slope (prefactor in MAE's unit).

    Raises:
        ValueError: fewer than two distinct sizes, a length mismatch, or a value that is
            not positive and finite.
    """
    n = np.asarray(n_train, dtype=float).ravel()
    y = np.asarray(mae, dtype=float).ravel()
    if n.shape != y.shape:
        raise ValueError(f"{n.size} training-set sizes but {y.size} errors")
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(y)) and np.all(n > 0)
            and np.all(y > 0)):
        raise ValueError("sizes and errors must be positive and finite to take logs")
    if np.unique(n).size < 2:
        raise ValueError(f"a slope needs at least two training-set sizes, got {np.unique(n)}")
    slope, intercept = np.polyfit(np.log(n), np.log(y), 1)
    return float(slope), float(np.exp(intercept))


def log_r2(n_train: Any, mae: Any, slope: float, prefactor: float) -> float:
    """R² of the fit in log space (1: the points lie on one power law; low: the curve
    bends, e.g. flat at small sizes and steep at large ones). Shapes as :func:`fit_slope`."""
    y = np.log(np.asarray(mae, dtype=float))
    resid = y - np.log(prefactor) - slope * np.log(np.asarray(n_train, dtype=float))
    total = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum(resid ** 2)) / total if total > 0 else float("nan")


def learning_points(records: list[dict[str, Any]], molecule: str, model: str,
                    key: str) -> list[tuple[int, int, float]]:
    """``(seed, n_train, value)`` of every finished run whose ``key`` is positive."""
    out = []
    for r in records:
        value = r.get(key)
        if (r["molecule"] == molecule and r["model"] == model and r["status"] == "done"
                and value is not None and math.isfinite(value) and value > 0):
            out.append((int(r["seed"]), int(r["n_train"]), float(value)))
    return sorted(out, key=lambda p: (p[1], p[0]))


def fit_curves(records: list[dict[str, Any]], molecules: list[str], models: list[str],
               forces: bool = False) -> list[dict[str, Any]]:
    """One fit per molecule × model × quantity (energy, and forces when trained on them).

    Each entry: ``molecule``, ``model``, ``quantity``, ``key``, ``unit``, ``sizes``,
    ``n_points``, ``points`` [(seed, n_train, MAE)], ``slope``, ``prefactor`` and ``r2``
    (the fit's R² in log space; None with fewer than two sizes), ``seed_slopes``
    {seed: slope} and ``seed_spread`` (stats of the per-seed slopes: mean, std, n, values).
    """
    out = []
    quantities = ["energy"] + (["forces"] if forces else [])
    for mol in molecules:
        for model in models:
            for quantity in quantities:
                key, _, unit = QUANTITIES[quantity]
                points = learning_points(records, mol, model, key)
                entry: dict[str, Any] = {
                    "molecule": mol, "model": model, "quantity": quantity, "key": key,
                    "unit": unit, "sizes": sorted({p[1] for p in points}),
                    "n_points": len(points), "points": points, "slope": None,
                    "prefactor": None, "r2": None, "seed_slopes": {},
                    "learned": _learned(records, mol, model)}
                if len(entry["sizes"]) >= 2:
                    ns, values = [p[1] for p in points], [p[2] for p in points]
                    entry["slope"], entry["prefactor"] = fit_slope(ns, values)
                    entry["r2"] = log_r2(ns, values, entry["slope"], entry["prefactor"])
                for seed in sorted({p[0] for p in points}):
                    mine = [p for p in points if p[0] == seed]
                    if len({p[1] for p in mine}) >= 2:
                        entry["seed_slopes"][seed] = fit_slope([p[1] for p in mine],
                                                               [p[2] for p in mine])[0]
                entry["seed_spread"] = stats(entry["seed_slopes"].values())
                out.append(entry)
    return out


def _learned(records: list[dict[str, Any]], molecule: str, model: str) -> dict[int, list[bool]]:
    """Per training-set size, whether each finished run learned (the report's validity
    rule, ``did_not_learn`` of the records); runs without the flag are left out."""
    out: dict[int, list[bool]] = {}
    for r in records:
        if (r["molecule"] == molecule and r["model"] == model and r["status"] == "done"
                and r.get("did_not_learn") is not None):
            out.setdefault(int(r["n_train"]), []).append(not r["did_not_learn"])
    return out


def _slope_text(fit: dict[str, Any]) -> str:
    spread = fit["seed_spread"]
    if spread["n"] >= 2:
        return f"{fit['slope']:.2f} (per seed {fmt(spread['mean'], spread['std'])})"
    return f"{fit['slope']:.2f}"


def never_learns(fit: dict[str, Any], mean_predictor: dict[int, float]) -> bool:
    """Whether no run of the model learned at any size: by the report's validity rule
    (``fit["learned"]``, see :mod:`.validity`) when the runs carry it; otherwise by the
    energy MAE, mean + one std over seeds not below the mean predictor's at any size.
    A flat curve then means nothing is learnt."""
    learned = fit.get("learned") or {}
    if any(learned.values()):
        return not any(any(flags) for flags in learned.values())
    sizes = [n for n in fit["sizes"] if n in mean_predictor]
    if not sizes:
        return False
    for n in sizes:
        s = stats(v for _, m, v in fit["points"] if m == n)
        spread = 0.0 if s["std"] is None or math.isnan(s["std"]) else s["std"]
        if s["mean"] + spread < mean_predictor[n]:
            return False
    return True


def conclude_efficiency(fits: list[dict[str, Any]], molecules: list[str],
                        models: list[str], still_improving: dict[tuple, list[int]],
                        out: Conclusion, floors: list[dict[str, Any]] = ()) -> None:
    """Add the slope sentences to ``out``: per molecule and quantity, every model's slope,
    then each equivariant model against each invariant one (a paired t-test over the
    per-seed slopes, Holm-adjusted over all of them, see the module docstring); records
    each comparison in ``out.comparisons`` and one headline line.

    ``still_improving[(molecule, model)]``: the sizes whose runs were still improving at
    their last epoch (their errors, and so the slope, are not converged). ``floors``
    (per size, see :func:`equilens.report.aggregate.floors`): a model that beats the mean
    predictor at no size is said to learn nothing, whatever its slope.
    """
    by = {(f["molecule"], f["model"], f["quantity"]): f for f in fits if f["slope"] is not None}
    family = _slope_comparisons(by, molecules, models, floors)
    decide(family)
    out.comparisons.extend(family)
    for mol in molecules:
        items = out.molecules.setdefault(mol, [])
        for quantity, (key, words, _) in QUANTITIES.items():
            present = [m for m in models if (mol, m, quantity) in by]
            if not present:
                continue
            sizes = sorted({n for m in present for n in by[(mol, m, quantity)]["sizes"]})
            slopes = ", ".join(f"{m} {_slope_text(by[(mol, m, quantity)])}" for m in present)
            items.append(f"Sample efficiency ({words} against {sizes[0]}–{sizes[-1]} training "
                         f"frames, slope of the log-log fit over every seed): {slopes}.")
            items += [_comparison_sentence(c, words) for c in family
                      if c["molecule"] == mol and c["metric"] == f"slope_{key}"]
        mp = floor_curve(list(floors), mol, "mean predictor")
        flat = [m for m in models if (mol, m, "energy") in by
                and never_learns(by[(mol, m, "energy")], mp)]
        if flat:
            items.append(f"{', '.join(flat)} did not learn at any training-set size "
                         "(predictions nearly constant, or the error not below the mean "
                         "predictor's): a flat curve here means nothing is learnt from these "
                         "frames, not that no more data is needed.")
        slow = {m: sizes for (mo, m), sizes in still_improving.items() if mo == mol and sizes}
        if slow:
            items.append("Still improving at the last epoch, so those errors and the slopes "
                         "mix data with training length: " + "; ".join(
                             f"{m} at n = {', '.join(map(str, s))}" for m, s in slow.items())
                         + ".")
    if family:
        largest = max(n for f in fits for n in f["sizes"])
        out.add_headline(_headline(family) + f" The other lines use the largest training set "
                         f"({largest} frames).")


def _slope_comparisons(by: dict, molecules: list[str], models: list[str],
                       floors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each equivariant model against each invariant one, per molecule and quantity,
    paired by seed (records of :func:`equilens.report.seed_verdicts.seed_record`; lower
    slope is better)."""
    equivariant = [m for m in models if model_kind(m) == "equivariant"]
    invariant = [m for m in models if model_kind(m) == "invariant"]
    family = []
    for mol in molecules:
        mp = floor_curve(list(floors), mol, "mean predictor")
        for quantity, (key, _, _) in QUANTITIES.items():
            energy = {m: by.get((mol, m, "energy")) for m in models}
            for eq in (m for m in equivariant if (mol, m, quantity) in by):
                for inv in (m for m in invariant if (mol, m, quantity) in by):
                    learned = [not (energy[m] and never_learns(energy[m], mp))
                               for m in (eq, inv)]
                    rec = seed_record(mol, f"slope_{key}", eq, inv,
                                      by[(mol, eq, quantity)]["seed_slopes"],
                                      by[(mol, inv, quantity)]["seed_slopes"],
                                      lower_is_better=True, a_learned=learned[0],
                                      b_learned=learned[1])
                    if rec is not None:
                        family.append(rec)
    return family


def _comparison_sentence(c: dict[str, Any], words: str) -> str:
    slopes = f"per-seed slopes {c['mean_a']:.2f} vs {c['mean_b']:.2f}"
    if c["ci_low"] is not None:
        slopes += (f", difference {c['diff_mean']:+.2f} (95% interval {c['ci_low']:+.2f} to "
                   f"{c['ci_high']:+.2f})")
    test = method_text(c)
    if c["verdict"] in ("better", "worse"):
        fast, slow = (c["a"], c["b"]) if c["verdict"] == "better" else (c["b"], c["a"])
        return (f"The {words} of {fast} falls faster with more training frames than that of "
                f"{slow}: {slopes} ({test}).")
    if c["verdict"] == "not comparable":
        return (f"The slopes of {c['a']} and {c['b']} are not comparable: neither beats the "
                f"mean predictor at any size ({slopes}).")
    return (f"No difference detected between the slopes of {c['a']} and {c['b']}: {slopes}; "
            f"the data rule out differences outside the interval, not smaller ones ({test}).")


def _headline(family: list[dict[str, Any]]) -> str:
    """One line over every slope comparison: per pair and quantity, where which is steeper."""
    groups: dict[tuple[str, str, str], dict[str, list[str]]] = {}
    for c in family:
        words = next(w for k, w, _ in QUANTITIES.values() if c["metric"] == f"slope_{k}")
        word = {"better": f"{c['a']} steeper", "worse": f"{c['b']} steeper"}.get(
            c["verdict"], c["verdict"])
        groups.setdefault((c["a"], c["b"], words), {}).setdefault(word, []).append(
            c["molecule"])
    parts = [f"{a} vs {b} ({words}): " + "; ".join(f"{w} on {', '.join(ms)}"
                                                   for w, ms in by_word.items())
             for (a, b, words), by_word in groups.items()]
    return ("Sample efficiency (log-log slope against training frames; paired t-test over "
            "seeds, Holm-adjusted): " + ". ".join(parts) + ".")


def efficiency_panels(molecule: str, fits: list[dict[str, Any]],
                      floors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The panels of one molecule's figure (energy, then forces when trained on them) for
    :func:`equilens.report.figures.plot_sample_efficiency`; the energy panel carries the
    two floors (mean over seeds at each size)."""
    panels = []
    for quantity, (_, words, unit) in QUANTITIES.items():
        mine = [f for f in fits if f["molecule"] == molecule and f["quantity"] == quantity
                and f["points"]]
        if not mine:
            continue
        panel: dict[str, Any] = {"title": f"{words} vs training frames",
                                 "ylabel": f"{words} ({unit})",
                                 "models": {f["model"]: f for f in mine}}
        if quantity == "energy":
            panel["floors"] = [(name, curve) for name in ("mean predictor", "ridge on 1/r", "kernel ridge")
                               if len(curve := floor_curve(floors, molecule, name)) > 1]
        panels.append(panel)
    return panels


def floor_curve(floors: list[dict[str, Any]], molecule: str, name: str) -> dict[int, float]:
    """{n_train: test MAE mean over seeds} of one floor of one molecule."""
    return {f["n_train"]: f["test_energy_mae_kcal"]["mean"] for f in floors
            if f["molecule"] == molecule and f["name"] == name and f["n_train"] is not None
            and f["test_energy_mae_kcal"]["mean"]}


def slope_rows(fits: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The slope table as text: per fit ``molecule``, ``model``, ``quantity`` (words and
    unit), ``slope``, ``per_seed`` (mean ± std), ``r2`` (of the fit, log space), ``first``
    and ``last`` (MAE mean ± std over
    seeds at the smallest and the largest size), ``sizes``, ``seeds``, ``points``."""
    rows = []
    for f in fits:
        if not f["points"]:
            continue
        _, words, unit = QUANTITIES[f["quantity"]]
        at = {n: stats(v for _, m, v in f["points"] if m == n) for n in f["sizes"]}
        spread = f["seed_spread"]
        n_lo, n_hi = f["sizes"][0], f["sizes"][-1]
        rows.append({
            "molecule": f["molecule"], "model": f["model"], "quantity": f"{words} ({unit})",
            "slope": "—" if f["slope"] is None else f"{f['slope']:.2f}",
            "per_seed": fmt(spread["mean"], spread["std"]) if spread["n"] else "—",
            "r2": "—" if f["r2"] is None else f"{f['r2']:.2f}",
            "first": f"{fmt(at[n_lo]['mean'], at[n_lo]['std'])} at n = {n_lo}",
            "last": f"{fmt(at[n_hi]['mean'], at[n_hi]['std'])} at n = {n_hi}",
            "sizes": ", ".join(map(str, f["sizes"])),
            "seeds": str(len({s for s, _, _ in f["points"]})), "points": str(f["n_points"])})
    return rows
