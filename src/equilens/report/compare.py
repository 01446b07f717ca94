"""Do another study's verdicts hold in this one? (``equilens study --compare OTHER``)

The point of the ``long`` preset: train the same models to convergence and check
whether the conclusions of the post's 50 epochs (the ``seed`` preset) survive. Each
comparison of this study's conclusion (a model against another, on one molecule and one
quantity) is matched with the same comparison in the other study's ``summary.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from equilens.errors import EquilensError

QUANTITIES = {"test_energy_mae_kcal": "test energy MAE (kcal/mol)",
              "latent_energy_r2_probe": "latent: energy probe R²",
              "latent_geometry_r2_probe": "latent: geometry probe R²",
              "slope_test_energy_mae_kcal": "sample efficiency: log-log slope of test energy MAE",
              "slope_test_force_mae_kcal": "sample efficiency: log-log slope of test force MAE"}


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


def compare_studies(here: list[dict[str, Any]], other: dict[str, Any]) -> dict[str, Any]:
    """Rows matching this study's comparisons with the other's, and a tally."""
    theirs = {(c["molecule"], c["quantity"], c["a"], c["b"]): c
              for c in other["summary"].get("conclusion", {}).get("comparisons", [])}
    rows = []
    for c in here:
        o = theirs.get((c["molecule"], c["quantity"], c["a"], c["b"]))
        if o is None:
            continue
        rows.append({"molecule": c["molecule"], "quantity": c["quantity"],
                     "label": QUANTITIES.get(c["quantity"], c["quantity"]), "a": c["a"],
                     "b": c["b"], "here": _side(c), "there": _side(o),
                     "same": c["verdict"] == o["verdict"]})
    known = [r for r in rows if "unknown" not in (r["here"]["verdict"], r["there"]["verdict"])]
    return {"other": other["path"], "other_preset": other["preset"],
            "other_epochs": other["epochs"], "rows": rows,
            "n_same": sum(r["same"] for r in known), "n_compared": len(known),
            "changed": [r for r in known if not r["same"]]}


def _side(c: dict[str, Any]) -> dict[str, Any]:
    return {k: c.get(k) for k in ("verdict", "mean_a", "mean_b", "std_a", "std_b", "p_value",
                                  "n_a", "n_b")}


def verdict_words(verdict: str, a: str, b: str, lower_is_better: bool = True) -> str:
    return {"better": f"{a} better", "worse": f"{b} better", "tie": "within the seed spread",
            "unknown": "one seed, no verdict"}.get(verdict, verdict)


def headline(result: dict[str, Any]) -> str:
    """One sentence for the conclusion."""
    epochs = "/".join(map(str, result["other_epochs"])) or "?"
    text = (f"Against the {result['other_preset']} study ({epochs} epochs, {result['other']}): "
            f"{result['n_same']} of {result['n_compared']} verdicts are the same")
    changed = result["changed"]
    if changed:
        text += "; changed: " + "; ".join(
            f"{r['molecule']} {r['a']} vs {r['b']} ({r['label']}): "
            f"{verdict_words(r['there']['verdict'], r['a'], r['b'])} there, "
            f"{verdict_words(r['here']['verdict'], r['a'], r['b'])} here" for r in changed)
    return text + "."
