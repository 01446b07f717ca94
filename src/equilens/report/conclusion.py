"""The report's conclusion, generated from the numbers.

First the headline (:mod:`.headline`, at most five lines): per molecule which model wins
and by how much, which floors each model beats, which models did not learn, and what the
design cannot tell. Then, per molecule, the details: the test MAE of every model and
floor, which runs did not learn or were still improving (:mod:`.validity`), every paired
comparison of two models and of each model against the floors (:mod:`.verdicts`: a
hierarchical bootstrap over seeds and test frames, Holm-adjusted, four verdicts), and the
latent scores of every two models (a paired t-test over seeds, Holm-adjusted over the
latent comparisons of the study).

:func:`compare` (an unpaired Welch t-test over seeds) is kept for callers that only have
per-seed values without seeds; the report's verdicts no longer use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from equilens.errors import EquilensError
from equilens.models import resolve_spec
from equilens.models.external import codes, is_external
from equilens.report.headline import Headline, headline
from equilens.report.paired import N_RESAMPLES
from equilens.report.predictions import METRIC_KEYS
from equilens.report.seed_verdicts import decide, method_text, seed_record
from equilens.report.sentences import comparison_sentence, fails_adjustment, floor_sentence
from equilens.report.verdicts import (FLOORS, REFERENCE, MoleculeFrames, read_frames,
                                      study_comparisons)

ALPHA = 0.05
#: How a pretrained model's rows and sentences name it.
PRETRAINED_NOTE = "pretrained, not trained here"


def model_kind(spec: str) -> str:
    """'equivariant' (egnn with l_max >= 1), 'invariant' (gcn, egnn:l_max=0) or 'other'."""
    try:
        name, cfg = resolve_spec(spec)
    except EquilensError:  # an unknown spec is described, not judged
        return "other"
    if name == "egnn":
        return "equivariant" if getattr(cfg, "l_max", 0) >= 1 else "invariant"
    return "invariant" if name == "gcn" else "other"


def describe_model(spec: str) -> str:
    """A few words on what a model spec is."""
    try:
        name, cfg = resolve_spec(spec)
    except EquilensError:
        return ""
    if name == "egnn":
        lmax = getattr(cfg, "l_max", 1)
        return (f"equivariant, features up to l={lmax}" if lmax >= 1
                else "invariant ablation: the same network, scalars only")
    if name == "gcn":
        return "invariant GCN on distances (the post's baseline)"
    if name == "mlp":
        return "non-equivariant control"
    if is_external(name):
        return f"{codes()[name].description}; {PRETRAINED_NOTE}"
    return ""


def model_label(spec: str) -> str:
    """The model's spec, with "(pretrained, not trained here)" for a pretrained model."""
    return f"{spec} ({PRETRAINED_NOTE})" if is_external(spec) else spec


@dataclass
class Comparison:
    """a against b on one quantity."""

    a: str
    b: str
    mean_a: float
    mean_b: float
    std_a: float
    std_b: float
    n_a: int
    n_b: int
    lower_is_better: bool
    p_value: float | None
    verdict: str  # "better", "worse", "tie" (no difference detected), "unknown" (no test)

    @property
    def margin(self) -> float:
        """How much better a is than b (positive: a better)."""
        d = self.mean_b - self.mean_a
        return d if self.lower_is_better else -d


def compare(a: str, b: str, sa: dict[str, Any], sb: dict[str, Any],
            lower_is_better: bool = True) -> Comparison | None:
    """Compare two groups' stats (with per-seed ``values``); None if either is empty."""
    if not sa.get("n") or not sb.get("n"):
        return None
    xa, xb = sa.get("values", []), sb.get("values", [])
    p = None
    if len(xa) >= 2 and len(xb) >= 2:
        p = _welch_p(xa, xb)
    d = sb["mean"] - sa["mean"]
    favourable = d > 0 if lower_is_better else d < 0
    if p is None:
        verdict = "unknown"
    elif p < ALPHA and d != 0:
        verdict = "better" if favourable else "worse"
    else:
        verdict = "tie"
    return Comparison(a, b, sa["mean"], sb["mean"], sa["std"], sb["std"], sa["n"], sb["n"],
                      lower_is_better, p, verdict)


def _welch_p(xa: list[float], xb: list[float]) -> float | None:
    from scipy import stats

    if _spread(xa) == 0 and _spread(xb) == 0:
        return None  # zero spread: the t statistic is undefined, no test (never p = 0)
    p = float(stats.ttest_ind(xa, xb, equal_var=False).pvalue)
    return None if math.isnan(p) else p


def _spread(xs: list[float]) -> float:
    return max(xs) - min(xs)


def fmt(value: float | None, std: float | None = None, unit: str = "") -> str:
    """``1.234 ± 0.056 unit``: the std to two significant digits, the mean to match."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        text = f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    else:
        decimals = 3 if std == 0 else min(4, max(0, 1 - math.floor(math.log10(abs(std)))))
        text = f"{value:.{decimals}f} ± {std:.{decimals}f}"
    return f"{text} {unit}".rstrip()


def fmt_fixed(value: float | None, std: float | None, decimals: int) -> str:
    """``0.93 ± 0.02`` with a fixed number of decimals (for scores such as R²)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{value:.{decimals}f}"
    return f"{value:.{decimals}f} ± {std:.{decimals}f}"


@dataclass
class Conclusion:
    """``headline`` (at most five lines), ``molecules`` (details per molecule) and
    ``comparisons`` (every comparison record: test MAE of :mod:`.verdicts`, latent
    scores and slopes of :mod:`.seed_verdicts`)."""

    headline: list[str] = field(default_factory=Headline)
    molecules: dict[str, list[str]] = field(default_factory=dict)
    comparisons: list[dict[str, Any]] = field(default_factory=list)

    def add_headline(self, line: str) -> None:
        """A study-wide line (sample efficiency, another study), within the five lines."""
        if isinstance(self.headline, Headline):
            self.headline.add(line)
        else:
            self.headline.append(line)

    @property
    def paired(self) -> list[dict[str, Any]]:
        """The comparisons of test MAE (summary.json's ``comparisons``)."""
        return [c for c in self.comparisons if c.get("metric") in METRIC_KEYS]

    def to_dict(self) -> dict[str, Any]:
        return {"headline": list(self.headline), "molecules": self.molecules,
                "comparisons": self.comparisons}


def conclude(groups: list[dict[str, Any]], floors: list[dict[str, Any]],
             molecules: list[str], models: list[str], records: list[dict[str, Any]] = (),
             *, frames: list[MoleculeFrames] | None = None,
             n_resamples: int = N_RESAMPLES) -> Conclusion:
    """The conclusion of a study (see the module docstring).

    Args:
        groups, floors: from :func:`equilens.report.aggregate.group_records` and
            :func:`~equilens.report.aggregate.floors` (one training-set size).
        records: the runs' records (``run_dir`` for ``predictions/test.npz``, validity
            columns, per-seed latent scores).
        frames: per molecule, the per-frame errors (default: read from ``records``).
        n_resamples: bootstrap resamples of every paired comparison.
    """
    records = list(records)
    if frames is None:
        frames = [read_frames(records, mol, models) for mol in molecules]
    comps = study_comparisons(frames, models, n_resamples)
    latent = _latent_comparisons(records, molecules, models, frames)
    out = Conclusion(headline=headline(comps, frames, models),
                     comparisons=comps + latent)
    by_mol = {f.molecule: f for f in frames}
    for mol in molecules:
        f = by_mol.get(mol) or MoleculeFrames(mol)
        items = [_numbers_sentence(mol, groups, floors)]
        items += _validity_sentences(f)
        mine = [c for c in comps if c["molecule"] == mol]
        reasons = {m: next(iter(r.values()), "") for m, r in f.not_learned.items()}
        items += [comparison_sentence(c, reasons) for c in mine if c["b"] not in FLOORS]
        floor_reasons = {k: v for k, v in reasons.items() if k in FLOORS and k != REFERENCE}
        for m in models:
            vs = [c for c in mine if c["a"] == m and c["b"] in FLOORS]
            if vs:
                items.append(floor_sentence(m, vs, floor_reasons))
        items += _latent_sentences([c for c in latent if c["molecule"] == mol])
        out.molecules[mol] = [t for t in items if t]
    return out


def _numbers_sentence(mol: str, groups: list[dict[str, Any]],
                      floors: list[dict[str, Any]]) -> str | None:
    """Test energy MAE of every model and floor (mean ± std over seeds)."""
    parts = [f"{model_label(g['model'])} {fmt(g['test_energy_mae_kcal']['mean'], g['test_energy_mae_kcal']['std'])}"
             for g in groups if g["molecule"] == mol and g["n_seeds"]]
    parts += [f"{f['name']} {fmt(f['test_energy_mae_kcal']['mean'], f['test_energy_mae_kcal']['std'])}"
              for f in floors if f["molecule"] == mol and f["test_energy_mae_kcal"].get("n")]
    if not parts:
        return "no finished run"
    return "Test energy MAE (kcal/mol, mean ± std over seeds): " + ", ".join(parts) + "."


def _validity_sentences(f: MoleculeFrames) -> list[str]:
    out = []
    working = any(f.learned(m) for m in f.seeds_of_any() if m not in FLOORS)
    for m, per_seed in f.not_learned.items():
        if m in FLOORS:
            continue
        reasons = "; ".join(f"seed {s}: {r}" for s, r in sorted(per_seed.items()))
        tail = ", and a model that learned is better than it" if working else ""
        out.append(f"{m} did not learn ({reasons}): it is not ranked{tail}.")
    if f.missing:
        out.append("No per-frame predictions (predictions/test.npz), left out of the paired "
                   f"comparisons: {', '.join(f.missing)}.")
    slow = [f"{m} ({', '.join(map(str, sorted(s)))})" for m, s in f.still_improving.items() if s]
    if slow:
        out.append("Still improving at the last epoch (best epoch in the last 10% of the "
                   f"epochs), seeds in brackets: {', '.join(slow)}. These errors are not "
                   "converged; the long preset trains to convergence.")
    return out


#: The latent comparisons: record key → what it scores (linear probe R², mean over the
#: kind's targets).
LATENT = {"latent_energy_r2_probe": "energy", "latent_bond_r2_probe": "bond lengths",
          "latent_angle_r2_probe": "bond angles",
          "latent_dihedral_r2_probe": "dihedrals (cos nφ)",
          "latent_structure_r2_probe": "structure targets"}
RANDOM = " (random weights)"


def _latent_comparisons(records: list[dict[str, Any]], molecules: list[str],
                        models: list[str], frames: list[MoleculeFrames]) -> list[dict[str, Any]]:
    """Per molecule and kind of target: every two models' latent probe R², and every
    model's trained latent against its random-weights latent, paired by seed and
    Holm-adjusted together (higher is better). A latent is scored whether or not its model
    learned; the records say which did not (``a_did_not_learn``, ``b_did_not_learn``)."""
    family = []
    not_learned = {f.molecule: f.not_learned for f in frames}
    for mol in molecules:
        for key in LATENT:
            per = {m: _per_seed(records, mol, m, key) for m in models}
            pairs = [(a, b, per[a], per[b]) for i, a in enumerate(models) for b in models[i + 1:]]
            pairs += [(m, m + RANDOM, per[m], _per_seed(records, mol, m, key + "_random"))
                      for m in models]
            for a, b, xa, xb in pairs:
                rec = seed_record(mol, key, a, b, xa, xb, lower_is_better=False)
                if rec is not None:
                    bad = not_learned.get(mol, {})
                    rec["a_did_not_learn"] = bool(bad.get(a))
                    rec["b_did_not_learn"] = bool(bad.get(b.removesuffix(RANDOM)))
                    family.append(rec)
    decide(family)
    return family


def _per_seed(records: list[dict[str, Any]], mol: str, model: str, key: str) -> dict[int, float]:
    return {int(r["seed"]): float(r[key]) for r in records
            if r["molecule"] == mol and r["model"] == model and r["status"] == "done"
            and r.get(key) is not None}


def _latent_sentences(comps: list[dict[str, Any]]) -> list[str]:
    """One sentence per kind of target: every model's trained against its random-weights
    latent, then every two models, with intervals and verdicts."""
    out = []
    for metric, what in LATENT.items():
        mine = [c for c in comps if c["metric"] == metric]
        if not mine:
            continue
        own = [_vs_random(c) for c in mine if c["b"] == c["a"] + RANDOM]
        pairs = [_vs_model(c) for c in mine if c["b"] != c["a"] + RANDOM]
        tests = sorted({c["n_tests"] for c in mine})
        n_seeds = sorted({c["n_seeds"] for c in mine})
        method = (f"paired t-tests over {'/'.join(map(str, n_seeds))} seeds, Holm-adjusted over "
                  f"{tests[-1]} latent tests; intervals in brackets: 95%, unadjusted"
                  if tests and tests[-1] else "no test")
        parts = ((["trained vs random weights: " + "; ".join(own)] if own else [])
                 + (["between models: " + "; ".join(pairs)] if pairs else []))
        failed = any(c.get("a_did_not_learn") or c.get("b_did_not_learn") for c in mine)
        note = ("; a model that did not learn is scored as a representation, not as that of a "
                "working model" if failed else "")
        out.append(f"Latent {what} (linear probe R²), " + "; ".join(parts) + f" ({method}{note}).")
    return out


def _interval(c: dict[str, Any]) -> str:
    return "" if c["ci_low"] is None else f" [{c['ci_low']:+.2f}, {c['ci_high']:+.2f}]"


def _flag(model: str, failed: bool | None) -> str:
    return f"{model} (did not learn)" if failed else model


def _tie(c: dict[str, Any]) -> str:
    """The verdict of a latent comparison without a difference: one whose unadjusted
    interval excludes zero is named as failing the adjustment, not as a contradiction."""
    if fails_adjustment(c):
        return f"{c['verdict']} after the adjustment"
    return c["verdict"]


def _vs_random(c: dict[str, Any]) -> str:
    word = {"better": "higher when trained", "worse": "lower when trained"}.get(c["verdict"],
                                                                              _tie(c))
    return (f"{_flag(model_label(c['a']), c.get('a_did_not_learn'))} {c['mean_a']:.2f} vs "
            f"{c['mean_b']:.2f}, "
            f"{c['diff_mean']:+.2f}{_interval(c)}, {word}")


def _vs_model(c: dict[str, Any]) -> str:
    word = {"better": f"higher in {c['a']}", "worse": f"higher in {c['b']}"}.get(c["verdict"],
                                                                                 _tie(c))
    return (f"{_flag(c['a'], c.get('a_did_not_learn'))} vs {_flag(c['b'], c.get('b_did_not_learn'))} "
            f"{c['mean_a']:.2f} vs {c['mean_b']:.2f}, {c['diff_mean']:+.2f}{_interval(c)}, {word}")
