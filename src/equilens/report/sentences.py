"""Sentences from comparison records (:mod:`.verdicts`): numbers, intervals, tests.

Every sentence states the verdict it was given and nothing stronger: a p-value is quoted
as the Holm-adjusted value it is ("p < 0.001" only when it is below 0.001), an interval
is the 95% hierarchical bootstrap interval of A − B, and "no difference detected" always
comes with its interval, the size of difference the design could have missed.
"""

from __future__ import annotations

from typing import Any

from equilens.report.verdicts import METRIC_WORDS


def tests(n: int) -> str:
    return "1 test" if n == 1 else f"{n} tests"


def num(x: float | None, signed: bool = False) -> str:
    """Three significant digits (``+`` shown when ``signed``); ``—`` for None."""
    if x is None:
        return "—"
    return f"{x:+.3g}" if signed else f"{x:.3g}"


def interval(c: dict[str, Any]) -> str:
    """``95% interval −1.2 to −0.3``: of A − B, in the metric's unit (not written)."""
    return f"95% interval {num(c['ci_low'], True)} to {num(c['ci_high'], True)}"


def gap_interval(c: dict[str, Any]) -> str:
    """``95% interval 0.3 to 1.2``: of B − A, the gap by which A is below B."""
    return f"95% interval {num(-c['ci_high'])} to {num(-c['ci_low'])}"


def p_text(c: dict[str, Any]) -> str:
    """The adjusted p-value of a tested comparison, in words."""
    p = c.get("p_adjusted")
    if p is None:
        return "no test"
    value = "< 0.001" if p < 0.001 else f"= {p:.3f}" if p < 0.995 else "= 1"
    return f"Holm-adjusted p {value} over {tests(c.get('n_tests', 1))}"


def excludes_zero(c: dict[str, Any]) -> bool:
    return c["ci_low"] > 0 or c["ci_high"] < 0


def fails_adjustment(c: dict[str, Any]) -> bool:
    """"No difference detected" although the unadjusted 95% interval excludes zero: the
    difference did not hold after the Holm adjustment."""
    return (c["verdict"] == "no difference detected" and c.get("ci_low") is not None
            and excludes_zero(c))


def unadjusted_note(c: dict[str, Any]) -> str:
    """For "no difference detected" with an interval that excludes zero: why."""
    if fails_adjustment(c):
        return (f"; the 95% interval excludes zero, but the difference does not hold after "
                f"the adjustment for the {tests(c.get('n_tests', 1))} of the study")
    return ""


def design_text(c: dict[str, Any]) -> str:
    """What the interval rests on: seeds and frames (and the one-seed caveat)."""
    per_seed = c["n_frames"] // max(c["n_seeds"], 1)
    if c["n_seeds"] == 1:
        return (f"one seed, {c['n_frames']} test frames: the interval rests on the frames of "
                "one split and leaves out the variance between training runs")
    return f"{c['n_seeds']} seeds x ~{per_seed} test frames, paired by seed and frame"


def oriented(c: dict[str, Any], first: str) -> dict[str, Any]:
    """The record read with ``first`` as A (the verdict and the numbers flipped if needed)."""
    if c["a"] == first:
        return c
    flip = {"better": "worse", "worse": "better"}
    ratio_lo, ratio_hi = c.get("ratio_ci_low"), c.get("ratio_ci_high")
    return {**c, "a": c["b"], "b": c["a"], "diff_mean": -c["diff_mean"],
            "ci_low": -c["ci_high"], "ci_high": -c["ci_low"],
            "ratio": 1 / c["ratio"] if c.get("ratio") else None,
            "ratio_ci_low": 1 / ratio_hi if ratio_hi else None,
            "ratio_ci_high": 1 / ratio_lo if ratio_lo else None,
            "mean_a": c["mean_b"], "mean_b": c["mean_a"], "std_a": c.get("std_b"),
            "std_b": c.get("std_a"), "a_learned": c["b_learned"], "b_learned": c["a_learned"],
            "verdict": flip.get(c["verdict"], c["verdict"])}


def percent_lower(c: dict[str, Any]) -> str:
    """``32%``: how much lower A's MAE is than B's."""
    return f"{(1 - c['mean_a'] / c['mean_b']) * 100:.0f}%" if c["mean_b"] else "—"


def comparison_sentence(c: dict[str, Any], reasons: dict[str, str] | None = None) -> str:
    """One comparison of two models, in full (see the module docstring).

    ``reasons[name]``: why a model did not learn (for verdicts decided by validity).
    """
    words, unit = METRIC_WORDS[c["metric"]]
    reasons = reasons or {}
    values = f"{words} {num(c['mean_a'])} vs {num(c['mean_b'])} {unit}"
    v = c["verdict"]
    if v == "not comparable":
        return f"{c['a']} and {c['b']} are not comparable on {words}: neither learned."
    if c["basis"] == "validity":
        good, bad = (c["a"], c["b"]) if v == "better" else (c["b"], c["a"])
        why = reasons.get(bad) or "it did not learn"
        return (f"{good} is better than {bad} on {words} because {bad} did not learn ({why}); "
                f"{values}.")
    diff = (f"difference {num(c['diff_mean'], True)} {unit} ({interval(c)}), ratio "
            f"{num(c['ratio'])}")
    tail = f"{design_text(c)}; {p_text(c)}"
    if c.get("zero_spread"):
        tail += "; the resampled differences have no spread, so no uncertainty was measured"
    if v in ("better", "worse"):
        word = "lower" if v == "better" else "higher"
        return (f"{c['a']} has a {word} {words} than {c['b']}: {values}, {diff} ({tail}).")
    return (f"No difference detected between {c['a']} and {c['b']} on {words}: {values}, "
            f"{diff}; differences beyond the interval are unlikely, smaller ones could not "
            f"be told from zero ({tail}){unadjusted_note(c)}.")


def floor_sentence(model: str, comps: list[dict[str, Any]],
                   floor_reasons: dict[str, str]) -> str:
    """A model against every floor of its molecule, in one sentence."""
    parts = []
    for c in comps:
        floor = c["b"]
        head = f"{floor} {num(c['mean_b'])} kcal/mol"
        if floor in floor_reasons and c["verdict"] != "not comparable":
            parts.append(f"{head} ({c['verdict']}: that floor did not learn, "
                         f"{floor_reasons[floor]})")
        elif c["verdict"] == "not comparable":
            parts.append(f"{head} (not comparable: neither learned)")
        elif c["basis"] == "validity":
            parts.append(f"{head} ({c['verdict']}: only one of the two learned)")
        else:
            parts.append(f"{head} ({c['verdict']}: {num(c['diff_mean'], True)}, "
                         f"{interval(c)}; {p_text(c)}{unadjusted_note(c)})")
    mae = num(comps[0]["mean_a"]) if comps else "—"
    return f"{model} (test energy MAE {mae} kcal/mol) against the floors: " + \
        "; ".join(parts) + "."
