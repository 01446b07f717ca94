"""The headline: at most :data:`MAX_LINES` lines that answer the study's question.

One line per molecule, generated from the verdicts of :mod:`.verdicts` on the test
energy MAE:

- which model wins (``better`` than every other model that learned), by how much, with
  the 95% interval of the difference; or that no single model wins, and which pairs
  could not be told apart (with their intervals);
- which floors each model beats (a floor that did not learn is named as such);
- which models did not learn (never ranked).

Then one line on what the design cannot tell: the seeds the intervals rest on (one seed:
the frames of one split only), the comparisons without a detected difference, the runs
still improving at their last epoch, the models that did not learn, the runs without
per-frame predictions, and the size of the Holm family. Further lines (sample
efficiency, another study) are added with :meth:`Headline.add`; molecule lines are then
joined two by two until the total fits.
"""

from __future__ import annotations

from typing import Any

from equilens.report.sentences import (fails_adjustment, gap_interval, interval, num, oriented, percent_lower,
                                       tests)
from equilens.report.verdicts import FLOORS, REFERENCE, MoleculeFrames

MAX_LINES = 5
ENERGY = "test_energy_mae_kcal"


def _seeds(seeds: list[int]) -> str:
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, sorted(seeds)))


def _where(name: str, frames: MoleculeFrames) -> str:
    """"" when ``name`` did not learn in any of its seeds, else " in seeds 0, 2"."""
    per_seed = frames.not_learned[name]
    seeds = frames.seeds(name) or sorted(per_seed)
    return "" if set(per_seed) >= set(seeds) else f" in {_seeds(list(per_seed))}"


def _failed_text(m: str, frames: MoleculeFrames) -> str:
    reason = next((r for r in frames.not_learned[m].values() if r), "").split("; ")[0]
    return f"{m} did not learn{_where(m, frames)} and is not ranked" + (
        f": {reason}" if reason else "")


def _ranking(mol: str, learned: list[str], pair: dict) -> str:
    """Who wins among the models that learned (at least two)."""
    for w in learned:
        others = [o for o in learned if o != w]
        views = [oriented(pair[frozenset((w, o))], w) for o in others
                 if frozenset((w, o)) in pair]
        if len(views) == len(others) and all(v["verdict"] == "better" for v in views):
            gaps = ", ".join(f"{num(-v['diff_mean'])} kcal/mol ({percent_lower(v)}) below "
                             f"{v['b']} ({gap_interval(v)})" for v in views)
            return f"{mol}: {w} wins, test energy MAE {num(views[0]['mean_a'])} kcal/mol, {gaps}"
    parts = []
    for i, a in enumerate(learned):
        for b in learned[i + 1:]:
            c = pair.get(frozenset((a, b)))
            if c is None:
                continue
            if c["verdict"] == "no difference detected" and c.get("zero_spread"):
                parts.append(f"{c['a']} vs {c['b']}: no difference detected (the same "
                             f"difference, {num(c['diff_mean'], True)} kcal/mol, on every "
                             "frame: no uncertainty was measured)")
            elif c["verdict"] == "no difference detected":
                v = oriented(c, a)
                parts.append(f"{v['a']} vs {v['b']}: no difference detected ({interval(v)} "
                             f"kcal/mol{_holm_note(v)})")
            else:
                low = c if c["verdict"] == "better" else oriented(c, c["b"])
                parts.append(f"{low['a']} below {low['b']} by {num(-low['diff_mean'])} kcal/mol "
                             f"({gap_interval(low)})")
    return f"{mol}: no single winner; " + "; ".join(parts)


def _holm_note(c: dict[str, Any]) -> str:
    if fails_adjustment(c):
        return ", which excludes zero but not after the Holm adjustment"
    return ""


def _floors_text(learned: list[str], floor_pair: dict, frames: MoleculeFrames) -> str:
    floors = [f for f in FLOORS if frames.errors.get(ENERGY, {}).get(f)]
    dead = [f for f in floors if f != REFERENCE and not frames.learned(f)]
    alive = [f for f in floors if f not in dead]
    parts = []
    for m in learned:
        beaten = [f for f in alive if floor_pair.get((m, f), {}).get("verdict") == "better"]
        rest = [floor_pair[(m, f)] for f in alive if (m, f) in floor_pair and f not in beaten]
        text = f"{m} beats {', '.join(beaten) if beaten else 'no floor'}"
        if rest:
            text += (" but not " if beaten else ": not ") + " nor ".join(
                f"{c['b']} ({c['verdict']}, {num(c['diff_mean'], True)} kcal/mol, "
                f"{interval(c)}{_holm_note(c)})" for c in rest)
        parts.append(text)
    for f in dead:
        parts.append(f"{f} did not learn here{_where(f, frames)} (test MAE not below the mean "
                     "predictor's by its 95% interval, or predictions nearly constant)")
    return "; ".join(parts)


def molecule_line(mol: str, comps: list[dict[str, Any]], models: list[str],
                  frames: MoleculeFrames) -> str:
    """The headline line of one molecule (see the module docstring)."""
    energy = [c for c in comps if c["molecule"] == mol and c["metric"] == ENERGY]
    present = [m for m in models if frames.errors.get(ENERGY, {}).get(m)]
    if not present:
        return f"{mol}: no run with per-frame predictions, so no paired comparison."
    pair = {frozenset((c["a"], c["b"])): c for c in energy if c["b"] in models}
    floor_pair = {(c["a"], c["b"]): c for c in energy if c["b"] in FLOORS}
    learned = [m for m in present if frames.learned(m)]
    failed = [m for m in present if m not in learned]
    if not learned:
        head = f"{mol}: no model learned, so none is ranked"
    elif len(learned) == 1:
        mae = next((c["mean_a"] for c in energy if c["a"] == learned[0]), None)
        head = (f"{mol}: {learned[0]} is the only model that learned (test energy MAE "
                f"{num(mae)} kcal/mol)")
    else:
        head = _ranking(mol, learned, pair)
    tail = [_floors_text(learned, floor_pair, frames)] if learned else []
    tail += [_failed_text(m, frames) for m in failed]
    return head + ("; " + "; ".join(t for t in tail if t) if tail else "") + "."


def design_line(comps: list[dict[str, Any]], frames: list[MoleculeFrames]) -> str:
    """What the design cannot tell (see the module docstring)."""
    parts = []
    seeds = sorted({c["n_seeds"] for c in comps})
    one = sorted({c["molecule"] for c in comps if c["n_seeds"] == 1})
    if one:
        where = "" if seeds == [1] else f" ({', '.join(one)})"
        parts.append(f"with one seed{where} every interval rests on the test frames of one "
                     "split and one training run: another seed could differ")
    few = [s for s in seeds if 1 < s < 5]
    if few:
        parts.append(f"with {few[0]} seeds{' elsewhere' if one else ''} the intervals "
                     f"resample only {few[0]} training runs and understate the spread "
                     "between runs")
    open_ = [c for c in comps if c["verdict"] == "no difference detected"
             and c["metric"] == ENERGY and not c.get("zero_spread")]
    flat = [c for c in comps if c.get("zero_spread")]
    if flat:
        parts.append(f"{len(flat)} comparison(s) with zero spread (the same difference on "
                     f"every frame, e.g. {flat[0]['a']} vs {flat[0]['b']} on "
                     f"{flat[0]['molecule']}), where no uncertainty was measured")
    if open_:
        between = [c for c in open_ if c["b"] not in FLOORS] or open_
        widest = max(between, key=lambda c: c["ci_high"] - c["ci_low"])
        parts.append(f"{len(open_)} comparison(s) with no difference detected, e.g. "
                     f"{widest['a']} vs {widest['b']} on {widest['molecule']} "
                     f"({interval(widest)} kcal/mol): smaller differences cannot be seen")
    slow = [f"{m} on {f.molecule} ({_seeds(s)})" for f in frames
            for m, s in f.still_improving.items() if s]
    if slow:
        parts.append("still improving at the last epoch (best epoch in the last 10%), so "
                     f"not converged: {', '.join(slow)}")
    dead = sorted({m for f in frames for m in f.not_learned if m not in FLOORS})
    if dead:
        parts.append(f"how {', '.join(dead)} would compare had "
                     f"{'it' if len(dead) == 1 else 'they'} learned")
    missing = sum(len(f.missing) for f in frames)
    if missing:
        parts.append(f"{missing} run(s) have no per-frame predictions and are left out")
    n_tests = max((c.get("n_tests", 0) for c in comps), default=0)
    text = "What this design cannot tell: " + ("; ".join(parts) or "nothing flagged")
    if not n_tests:
        return text + " (no comparison was decided by a test)."
    return text + f" (p-values Holm-adjusted over the {tests(n_tests)} of the study)."


class Headline(list):
    """The headline lines (a list of str) that keeps itself to :data:`MAX_LINES`."""

    def __init__(self, molecule_lines: list[str] = (), tail: list[str] = ()):
        self.molecule_lines = list(molecule_lines)
        self.tail = list(tail)
        super().__init__()
        self._fit()

    def add(self, line: str) -> None:
        """Append a study-wide line, joining molecule lines if the total would be too long."""
        self.tail.append(line)
        self._fit()

    def _fit(self) -> None:
        lines = list(self.molecule_lines)
        while len(lines) > 1 and len(lines) + len(self.tail) > MAX_LINES:
            lines = [" ".join(lines[i:i + 2]) for i in range(0, len(lines), 2)]
        self[:] = lines + self.tail


def headline(comps: list[dict[str, Any]], frames: list[MoleculeFrames],
             models: list[str]) -> Headline:
    """The lines of the study: one per molecule, then :func:`design_line`."""
    return Headline([molecule_line(f.molecule, comps, models, f) for f in frames],
                    [design_line(comps, frames)])
