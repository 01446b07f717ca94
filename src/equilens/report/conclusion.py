"""The report's conclusion, generated from the numbers.

For each molecule it states whether each model beats the mean predictor (and ridge on
inverse distances), whether the equivariant model's test error is lower than each
invariant model's, and whether its latent encodes the energy and the geometry better,
each with the margin, the seed spread and a Welch t-test over seeds. A difference is
called a difference only when p < :data:`ALPHA`; otherwise it is "within the seed spread".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from equilens.errors import EquilensError
from equilens.models import resolve_spec

ALPHA = 0.05


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
    return ""


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
    verdict: str  # "better", "worse", "tie", "unknown"

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
        return 0.0 if sum(xa) / len(xa) != sum(xb) / len(xb) else 1.0
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


def _p(c: Comparison) -> str:
    if c.p_value is None:
        return "one seed each, no error bar"
    p = "p < 0.001" if c.p_value < 0.001 else f"p = {c.p_value:.3f}"
    return f"Welch {p}, {c.n_a} vs {c.n_b} seeds"


@dataclass
class Conclusion:
    headline: list[str] = field(default_factory=list)
    molecules: dict[str, list[str]] = field(default_factory=dict)
    comparisons: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"headline": self.headline, "molecules": self.molecules,
                "comparisons": self.comparisons}

    def markdown(self) -> str:
        lines = [f"- {h}" for h in self.headline]
        for mol, items in self.molecules.items():
            lines.append(f"\n**{mol}**\n")
            lines += [f"- {t}" for t in items]
        return "\n".join(lines) + "\n"


def conclude(groups: list[dict[str, Any]], floors: list[dict[str, Any]],
             molecules: list[str], models: list[str]) -> Conclusion:
    """Sentences from the grouped results (see module docstring)."""
    out = Conclusion()
    by = {(g["molecule"], g["model"]): g for g in groups}
    floor = {(f["molecule"], f["name"]): f for f in floors}
    equivariant = [m for m in models if model_kind(m) == "equivariant"]
    invariant = [m for m in models if model_kind(m) == "invariant"]
    tally: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for mol in molecules:
        items: list[str] = []
        mp = floor.get((mol, "mean predictor"), {}).get("test_energy_mae_kcal", {})
        ridge = floor.get((mol, "ridge on 1/r"), {}).get("test_energy_mae_kcal", {})
        present = [m for m in models if by.get((mol, m), {}).get("n_seeds")]
        if not present:
            out.molecules[mol] = ["no finished run"]
            continue
        items.append(_floor_sentence(mol, present, by, mp, ridge))
        for eq in equivariant:
            for inv in invariant:
                if (mol, eq) not in by or (mol, inv) not in by:
                    continue
                c = compare(eq, inv, by[(mol, eq)]["test_energy_mae_kcal"],
                            by[(mol, inv)]["test_energy_mae_kcal"])
                if c is None:
                    continue
                tally.setdefault((eq, inv), []).append((mol, c.verdict))
                out.comparisons.append({"molecule": mol, "quantity": "test_energy_mae_kcal",
                                        **c.__dict__})
                items.append(_mae_sentence(c))
                latent = _latent_sentence(mol, eq, inv, by, out)
                if latent:
                    items.append(latent)
        slow = [m for m in present if (by[(mol, m)].get("still_improving") or 0) > 0.5]
        if slow:
            items.append(f"Still improving at the last epoch (validation MAE of the last fifth "
                         f"of the epochs ≥5% below the earlier best): {', '.join(slow)}. These "
                         "numbers are not converged; the long preset trains to convergence.")
        out.molecules[mol] = items
    for (eq, inv), verdicts in tally.items():
        out.headline.append(_headline(eq, inv, verdicts))
    if not equivariant or not invariant:
        out.headline.append("The study has no equivariant/invariant pair of models to compare.")
    return out


def _headline(eq: str, inv: str, verdicts: list[tuple[str, str]]) -> str:
    if all(v == "unknown" for _, v in verdicts):
        return (f"Test energy MAE, {eq} vs {inv}: one seed per model, so no error bars; the "
                "margins are stated per molecule below, without a verdict.")
    return (f"Test energy MAE of {eq} against {inv}: "
            + "; ".join(verdict_parts(verdicts, "lower", "higher"))
            + " (Welch t-test over the seeds, p < 0.05).")


def verdict_parts(verdicts: list[tuple[str, str]], better: str, worse: str) -> list[str]:
    """``(molecule, verdict)`` pairs as phrases: "<better> on a, b", "<worse> on c",
    "within the seed spread on d", "one seed only on e" (the empty ones left out)."""
    words = {"better": better, "worse": worse, "tie": "within the seed spread",
             "unknown": "one seed only"}
    parts = []
    for verdict, word in words.items():
        molecules = [m for m, x in verdicts if x == verdict]
        if molecules:
            parts.append(f"{word} on {', '.join(molecules)}")
    return parts


def _floor_sentence(mol: str, present: list[str], by: dict, mp: dict, ridge: dict) -> str:
    if not mp.get("n"):
        return "The floors are not available."
    beats, fails = [], []
    for m in present:
        s = by[(mol, m)]["test_energy_mae_kcal"]
        if s["mean"] is None:
            continue
        spread = 0.0 if s["std"] is None or math.isnan(s["std"]) else s["std"]
        ratio = mp["mean"] / s["mean"] if s["mean"] > 0 else math.inf
        lower = f"{ratio:.1f}x lower" if ratio >= 2 else f"{(1 - 1 / ratio) * 100:.0f}% lower"
        if s["mean"] + spread < mp["mean"]:
            beats.append(f"{m} ({lower})")
        else:
            fails.append(f"{m} ({fmt(s['mean'], s['std'], 'kcal/mol')})")
    text = f"Mean predictor: {fmt(mp['mean'], mp['std'], 'kcal/mol')} test MAE. "
    if beats:
        text += f"Beaten by {', '.join(beats)}. "
    if fails:
        text += f"Not clearly beaten (mean + one std not below it) by {', '.join(fails)}. "
    if ridge.get("n"):
        under = [m for m in present if (by[(mol, m)]["test_energy_mae_kcal"]["mean"] or math.inf)
                 < ridge["mean"]]
        text += (f"Ridge on inverse distances: {fmt(ridge['mean'], ridge['std'], 'kcal/mol')}; "
                 f"{'below it: ' + ', '.join(under) if under else 'no model is below it'}.")
    return text.strip()


def _mae_sentence(c: Comparison) -> str:
    values = (f"{fmt(c.mean_a, c.std_a)} vs {fmt(c.mean_b, c.std_b)} kcal/mol")
    rel = abs(c.margin) / max(c.mean_b if c.margin > 0 else c.mean_a, 1e-12) * 100
    if c.verdict == "better":
        return (f"{c.a} is more accurate than {c.b}: test MAE {values}, "
                f"{abs(c.margin):.3g} kcal/mol ({rel:.0f}%) lower ({_p(c)}).")
    if c.verdict == "worse":
        return (f"{c.a} is less accurate than {c.b}: test MAE {values}, "
                f"{abs(c.margin):.3g} kcal/mol ({rel:.0f}%) higher ({_p(c)}).")
    if c.verdict == "tie":
        return (f"{c.a} and {c.b} are within the seed spread: test MAE {values}, "
                f"difference {abs(c.margin):.3g} kcal/mol ({_p(c)}).")
    who = c.a if c.margin > 0 else c.b
    return (f"{c.a} vs {c.b}: test MAE {values}; {who} lower by {abs(c.margin):.3g} "
            f"kcal/mol ({_p(c)}).")


def _latent_sentence(mol: str, eq: str, inv: str, by: dict, out: Conclusion) -> str | None:
    parts = []
    for key, what in (("latent_energy_r2_probe", "energy"),
                      ("latent_geometry_r2_probe", "geometry (mean over variables)")):
        c = compare(eq, inv, by[(mol, eq)][key], by[(mol, inv)][key], lower_is_better=False)
        if c is None:
            continue
        out.comparisons.append({"molecule": mol, "quantity": key, **c.__dict__})
        word = {"better": f"better in {eq}", "worse": f"better in {inv}",
                "tie": "within the seed spread", "unknown": "one seed, no verdict"}[c.verdict]
        parts.append(f"{what}: probe R² {fmt_fixed(c.mean_a, c.std_a, 2)} vs "
                     f"{fmt_fixed(c.mean_b, c.std_b, 2)}, {word} ({_p(c)})")
    if not parts:
        return None
    return f"Latent of {eq} vs {inv} — " + "; ".join(parts) + "."
