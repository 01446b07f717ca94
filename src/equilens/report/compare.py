"""Do another study's verdicts hold in this one? (``equilens study --compare OTHER``)

The point of the ``long`` preset: train the same models to convergence and check
whether the conclusions of the post's 50 epochs (the ``seed`` preset) survive. Each
comparison of this study (a model against another or against a floor, on one molecule
and one quantity) is matched with the same comparison in the other study's
``summary.json`` (its ``comparisons`` and its conclusion's).

Only a detected difference can be replicated: a row is **replicated** when both studies
give the same ``better`` or ``worse`` verdict, **reversed** when they give opposite
ones, **lost** or **new** when only one of them detected a difference, and **neither**
when neither did. Two "no difference detected" are not a replication (absence of
evidence twice is not evidence), and ``not comparable`` on either side (a model that did
not learn) is **not comparable**. Verdicts of older summaries are read as
``tie`` → no difference detected and ``unknown`` → no verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from equilens.errors import EquilensError

QUANTITIES = {"test_energy_mae_kcal": "test energy MAE (kcal/mol)",
              "test_force_mae_kcal": "test force MAE (kcal/mol/Å)",
              "latent_energy_r2_probe": "latent: energy probe R²",
              "latent_geometry_r2_probe": "latent: geometry probe R² (mean over every target)",
              "latent_bond_r2_probe": "latent: bond-length probe R²",
              "latent_angle_r2_probe": "latent: bond-angle probe R²",
              "latent_dihedral_r2_probe": "latent: dihedral (cos nφ) probe R²",
              "slope_test_energy_mae_kcal": "sample efficiency: log-log slope of test energy MAE",
              "slope_test_force_mae_kcal": "sample efficiency: log-log slope of test force MAE"}
DECISIVE = ("better", "worse")
_OLD = {"tie": "no difference detected", "unknown": None}


def load_other(path: str | Path) -> dict[str, Any]:
    """The summary.json (and a few facts) of another study folder."""
    folder = Path(path)
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise EquilensError(f"--compare {folder}: not a finished study folder (no readable "
                            f"summary.json: {err})") from None
    try:
        records = json.loads((folder / "results.json").read_text())
    except (OSError, json.JSONDecodeError):
        records = []
    epochs = sorted({r.get("epochs") for r in records if r.get("epochs")})
    return {"path": str(folder), "summary": summary, "epochs": epochs,
            "preset": summary.get("study", {}).get("preset", "?")}


def _key(c: dict[str, Any]) -> tuple:
    return (c["molecule"], c.get("metric") or c.get("quantity"), c["a"], c["b"])


def verdict_of(c: dict[str, Any]) -> str | None:
    """The verdict in today's words (None: no verdict)."""
    v = c.get("verdict")
    return _OLD.get(v, v) if v in _OLD else v


def status(here: str | None, there: str | None) -> str:
    """replicated, reversed, lost, new, neither, not comparable or no verdict (above)."""
    if here is None or there is None:
        return "no verdict"
    if "not comparable" in (here, there):
        return "not comparable"
    if here in DECISIVE and there in DECISIVE:
        return "replicated" if here == there else "reversed"
    if there in DECISIVE:
        return "lost"
    return "new" if here in DECISIVE else "neither"


def compare_studies(here: list[dict[str, Any]], other: dict[str, Any]) -> dict[str, Any]:
    """Rows matching this study's comparisons with the other's, and a tally.

    ``n_same``: replicated verdicts; ``n_compared``: rows where at least one study
    detected a difference (replicated + reversed + lost + new); ``n_neither``: rows where
    neither did; ``changed``: the reversed, lost and new rows; ``counts``: per status.
    """
    summary = other["summary"]
    theirs = {_key(c): c for c in summary.get("conclusion", {}).get("comparisons", [])}
    theirs |= {_key(c): c for c in summary.get("comparisons") or []}
    rows = []
    for c in here:
        o = theirs.get(_key(c))
        if o is None:
            continue
        row_status = status(verdict_of(c), verdict_of(o))
        rows.append({"molecule": c["molecule"], "quantity": _key(c)[1],
                     "label": QUANTITIES.get(_key(c)[1], _key(c)[1]), "a": c["a"],
                     "b": c["b"], "here": _side(c), "there": _side(o),
                     "status": row_status, "same": row_status == "replicated"})
    counts = {s: sum(r["status"] == s for r in rows) for s in (
        "replicated", "reversed", "lost", "new", "neither", "not comparable", "no verdict")}
    decided = [r for r in rows if r["status"] in ("replicated", "reversed", "lost", "new")]
    return {"other": other["path"], "other_preset": other["preset"],
            "other_epochs": other["epochs"], "rows": rows, "counts": counts,
            "n_same": counts["replicated"], "n_compared": len(decided),
            "n_neither": counts["neither"],
            "changed": [r for r in decided if r["status"] != "replicated"]}


def _side(c: dict[str, Any]) -> dict[str, Any]:
    side = {k: c.get(k) for k in ("mean_a", "mean_b", "std_a", "std_b", "p_value",
                                  "p_adjusted", "diff_mean", "ci_low", "ci_high", "n_seeds")}
    side["verdict"] = verdict_of(c) or "no verdict"
    side["n_a"] = c.get("n_a", c.get("n_seeds"))
    side["n_b"] = c.get("n_b", c.get("n_seeds"))
    return side


def verdict_words(verdict: str, a: str, b: str, lower_is_better: bool = True) -> str:
    return {"better": f"{a} better", "worse": f"{b} better", "tie": "no difference detected",
            "unknown": "no verdict"}.get(verdict, verdict)


def headline(result: dict[str, Any]) -> str:
    """One sentence for the conclusion."""
    epochs = "/".join(map(str, result["other_epochs"])) or "?"
    text = (f"Against the {result['other_preset']} study ({epochs} epochs, {result['other']}): "
            f"{result['n_same']} of {result['n_compared']} differences detected in either "
            "study are replicated")
    changed = result["changed"]
    if changed:
        text += "; changed: " + "; ".join(
            f"{r['molecule']} {r['a']} vs {r['b']} ({r['label']}): "
            f"{verdict_words(r['there']['verdict'], r['a'], r['b'])} there, "
            f"{verdict_words(r['here']['verdict'], r['a'], r['b'])} here" for r in changed)
    if result["n_neither"]:
        text += (f"; {result['n_neither']} comparison(s) detected no difference in either "
                 "study, which is not a replication")
    return text + "."
