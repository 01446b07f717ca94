"""Verdicts on quantities with one number per run (a latent R², a log-log slope).

Two models are paired by seed (seed k gives both the same split) and compared with a
paired t-test over their common seeds (:func:`equilens.report.paired.paired_seed_test`);
the p-values of one family (e.g. every latent comparison of the study) are Holm-adjusted
together, and each comparison gets one of the four verdicts of :mod:`.verdicts`:
``better``/``worse`` when the adjusted p is below :data:`ALPHA` (or when exactly one of
the two models learned, if the caller says so), ``not comparable`` when neither learned,
``no difference detected`` otherwise, including one common seed (no test) and zero
spread of the differences (p = 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from equilens.report.paired import ALPHA, holm, paired_seed_test

TEST = "paired t-test over seeds"


def seed_record(molecule: str, metric: str, a: str, b: str, xa: Mapping[int, float],
                xb: Mapping[int, float], lower_is_better: bool, a_learned: bool = True,
                b_learned: bool = True) -> dict[str, Any] | None:
    """A comparison record (as :func:`equilens.report.verdicts.study_comparisons`'s,
    before the verdict) of A − B over the common seeds; None when they share none."""
    t = paired_seed_test(xa, xb)
    if t is None:
        return None
    seeds = sorted(set(xa) & set(xb))
    return {"molecule": molecule, "metric": metric, "quantity": metric, "a": a, "b": b,
            "diff_mean": t.diff_mean, "ci_low": t.ci_low, "ci_high": t.ci_high,
            "p_value": t.p_value, "p_adjusted": None, "verdict": None, "basis": TEST,
            "n_seeds": t.n_seeds, "seeds": seeds, "mean_a": t.mean_a, "mean_b": t.mean_b,
            "lower_is_better": lower_is_better, "a_learned": a_learned,
            "b_learned": b_learned}


def decide(family: list[dict[str, Any]]) -> None:
    """Holm-adjust the tested records of one family and set every ``verdict`` (in place)."""
    tested = [c for c in family if c["a_learned"] and c["b_learned"]
              and c["p_value"] is not None]
    for c, p in zip(tested, holm([c["p_value"] for c in tested])):
        c["p_adjusted"] = float(p)
    for c in family:
        c["n_tests"] = len(tested)
        if not c["a_learned"] and not c["b_learned"]:
            c["verdict"], c["basis"] = "not comparable", "validity"
        elif c["a_learned"] != c["b_learned"]:
            c["verdict"], c["basis"] = ("better" if c["a_learned"] else "worse"), "validity"
        elif c["p_adjusted"] is not None and c["p_adjusted"] < ALPHA and c["diff_mean"] != 0:
            a_lower = c["diff_mean"] < 0
            c["verdict"] = "better" if a_lower == c["lower_is_better"] else "worse"
        else:
            c["verdict"] = "no difference detected"


def method_text(c: dict[str, Any]) -> str:
    """``paired t-test over 3 seeds, Holm-adjusted p = 0.004 over 2 tests`` (or why not)."""
    if c["basis"] == "validity":
        return "decided by validity"
    if c["p_value"] is None:
        return f"{c['n_seeds']} common seed: no test"
    p = c["p_adjusted"]
    value = "< 0.001" if p < 0.001 else f"= {p:.3f}"
    n = "1 test" if c["n_tests"] == 1 else f"{c['n_tests']} tests"
    return f"paired t-test over {c['n_seeds']} seeds, Holm-adjusted p {value} over {n}"
