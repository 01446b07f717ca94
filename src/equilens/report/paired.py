"""Paired statistics: two models on the same seeds and the same test frames.

Seed k gives every model of a study the same split, so the errors of two models on one
frame are paired, and most of the seed-to-seed spread of a model's MAE is the split's,
shared by both models. The comparison works on per-frame absolute errors
``e_A[s, i]``, ``e_B[s, i]`` (seed s, frame i) and on the statistic

    Δ = mean_s MAE_A(s) − mean_s MAE_B(s)    (kcal/mol; negative: A more accurate)

and the ratio mean_s MAE_A(s) / mean_s MAE_B(s), both as in the results table (MAE of
each seed, mean over seeds).

**Interval.** A hierarchical (two-stage) bootstrap: draw the seeds with replacement,
then for every drawn seed draw its test frames with replacement, the same frames for A
and B (the pairing is kept), and recompute Δ; :data:`N_RESAMPLES` resamples, percentile
95% interval. The first stage carries the variance from training and from the split, the
second the variance from which frames were tested. With one seed the first stage is
void: the interval then rests on the frames of one split and says nothing about another
training run; the report states it. With few seeds the first stage sees only a few
values and underestimates the variance between training runs (the bootstrap variance of
a mean of S values is (S-1)/S of the usual estimate); the resampled statistics are
therefore spread about their centre by sqrt(S/(S-1)). That corrects the variance, not
the heavy tails of a two- or three-seed design: in a simulation with a true expected
difference of zero, a seed-to-seed spread of the difference of 0.1 (sd) and frame errors
|N(0, 1.5)| with 200 frames per seed (``paired_comparison``, 1000 resamples, 300
replicates), p < 0.05 came out in 17% of the replicates with 2 seeds, 15% with 3, 7.7%
with 5 and 6.7% with 10 (6.7% with one seed and 0.7% with 3 seeds without a seed-to-seed
spread). The report says that 2-4 seeds understate the spread between runs; only more
seeds fix it.

**p-value.** Twice the fraction of bootstrap Δ on the far side of zero (with the usual
+1 in numerator and denominator, so never 0): the p-value of the test that inverts the
same percentile interval, so that a verdict and its printed interval never disagree
before the multiplicity adjustment. When no resample reaches zero, the tail beyond the
resamples is taken from a normal with the resamples' mean and std (capped at 2/(B+1)),
so that the Monte Carlo resolution does not decide a Holm-adjusted verdict. The
alternatives were rejected: a sign-flip test over frames treats the trained models as
fixed and would ignore training variance, and a sign-flip or t-test over seeds cannot
fall below 0.5 (sign flips, 2 seeds) or rests on 1 degree of freedom. Two guards keep a
degenerate design from a small p: when the resampled Δ have no spread at all (zero
spread: e.g. one frame, or the same difference on every frame) the bootstrap has
measured no uncertainty and p = 1; and p is never below 2^(1-N), the smallest p an exact
paired test of N pairs can give.

**Multiplicity.** Holm's step-down adjustment over every comparison of a study
(:func:`holm`): it controls the family-wise error rate without assuming independence.

**Seed-level quantities** (a log-log slope, a latent R², one number per run): a paired
t-test over the common seeds (:func:`paired_seed_test`, ``scipy.stats.ttest_rel``), with
its t interval; zero spread of the differences gives p = 1, never 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from equilens.errors import DataError

N_RESAMPLES = 4000
LEVEL = 0.95
ALPHA = 0.05
#: indices drawn at once per seed (bounds the memory of one bootstrap to ~32 MB)
_CHUNK = 4_000_000


class PairingError(DataError):
    """Two models' predictions cannot be paired frame by frame."""


@dataclass(frozen=True)
class PairedResult:
    """A against B (see the module docstring); MAEs in the metric's unit."""

    diff_mean: float
    ci_low: float
    ci_high: float
    ratio: float
    ratio_ci_low: float
    ratio_ci_high: float
    p_value: float
    mae_a: float
    mae_b: float
    seed_mae_a: tuple[float, ...]
    seed_mae_b: tuple[float, ...]
    n_seeds: int
    n_frames: int
    zero_spread: bool


def align(ids_a: np.ndarray, err_a: np.ndarray, ids_b: np.ndarray,
          err_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The errors of the frames both sides have, in one order: ``(e_a, e_b)``, (m,) each.

    Raises:
        PairingError: the two sets share no frame.
    """
    common, ia, ib = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    if common.size == 0:
        raise PairingError("the two runs share no test frame (frame_ids differ)")
    return np.asarray(err_a, float)[ia], np.asarray(err_b, float)[ib]


def bootstrap_columns(blocks: Sequence[np.ndarray], n_resamples: int = N_RESAMPLES,
                      seed: int = 0) -> np.ndarray:
    """Resampled mean-over-seeds MAEs of K error columns that share their frames.

    Args:
        blocks: per seed s, (n_s, K) per-frame absolute errors of K models (or floors) on
            the same frames.
        n_resamples: bootstrap resamples B.
        seed: of the random generator (the result is reproducible).

    Returns:
        (B, K): seeds drawn with replacement, then each drawn seed's frames drawn with
        replacement, the same frame indices for every column (the pairing is kept).
    """
    if not blocks:
        raise PairingError("no seed to resample")
    rng = np.random.default_rng(seed)
    n_seeds, k = len(blocks), np.shape(blocks[0])[1]
    pick = rng.integers(0, n_seeds, size=(n_resamples, n_seeds))
    out = np.empty((n_resamples, n_seeds, k))
    for s, block in enumerate(blocks):
        x = np.asarray(block, float)
        if x.ndim != 2 or x.shape[1] != k or x.shape[0] == 0:
            raise PairingError(f"seed {s}: errors of shape {x.shape}, expected (n, {k})")
        columns = np.ascontiguousarray(x.T)
        rows, cols = np.nonzero(pick == s)
        step = max(1, _CHUNK // x.shape[0])
        for start in range(0, rows.size, step):
            r, c = rows[start:start + step], cols[start:start + step]
            idx = rng.integers(0, x.shape[0], size=(r.size, x.shape[0]))
            for j in range(k):
                out[r, c, j] = columns[j][idx].mean(axis=1)
    boot = out.mean(axis=1)
    if n_seeds > 1:  # small-sample rescaling of the spread (module docstring)
        centre = np.mean([np.mean(np.asarray(b, float), axis=0) for b in blocks], axis=0)
        boot = centre + math.sqrt(n_seeds / (n_seeds - 1)) * (boot - centre)
    return boot


def hierarchical_bootstrap(a: Sequence[np.ndarray], b: Sequence[np.ndarray],
                           n_resamples: int = N_RESAMPLES, seed: int = 0
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Resampled mean-over-seeds MAEs of A and B, (B,) each (:func:`bootstrap_columns`).

    Args:
        a, b: per seed s, (n_s,) paired per-frame absolute errors (same frames, same order).
    """
    if len(a) != len(b) or not a:
        raise PairingError(f"{len(a)} seeds against {len(b)}: nothing to pair")
    blocks = []
    for s, (ea, eb) in enumerate(zip(a, b)):
        if np.shape(ea) != np.shape(eb):
            raise PairingError(f"seed {s}: {np.size(ea)} against {np.size(eb)} frames")
        blocks.append(np.column_stack([ea, eb]))
    boot = bootstrap_columns(blocks, n_resamples, seed)
    return boot[:, 0], boot[:, 1]


def bootstrap_p(diffs: np.ndarray, n_pairs: int) -> float:
    """Two-sided p of "Δ = 0" from bootstrap Δ (B,), see the module docstring.

    When no resample reaches zero the count says only p < 2/(B+1); the tail is then
    taken from a normal fitted to the resampled Δ (mean and std), so that a clear
    difference keeps a small p under the Holm adjustment of a large study.
    """
    from scipy import stats

    diffs = np.asarray(diffs, float)
    if diffs.size == 0 or np.ptp(diffs) == 0:
        return 1.0
    below = int(np.count_nonzero(diffs <= 0))
    above = int(np.count_nonzero(diffs >= 0))
    if min(below, above) > 0:
        p = 2.0 * (1 + min(below, above)) / (diffs.size + 1)
    else:
        z = abs(float(np.mean(diffs))) / float(np.std(diffs, ddof=1))
        p = min(2.0 / (diffs.size + 1), 2.0 * float(stats.norm.sf(z)))
    floor = max(2.0 ** (1 - max(n_pairs, 1)), np.finfo(float).tiny)  # never 0
    return float(min(1.0, max(p, floor)))


def paired_comparison(a: Sequence[np.ndarray], b: Sequence[np.ndarray],
                      n_resamples: int = N_RESAMPLES, seed: int = 0) -> PairedResult:
    """Δ, ratio, their 95% intervals and the p-value of A against B.

    Args:
        a, b: per seed, (n_s,) paired per-frame absolute errors (see :func:`align`).
    """
    return summarise(a, b, *hierarchical_bootstrap(a, b, n_resamples, seed))


def summarise(a: Sequence[np.ndarray], b: Sequence[np.ndarray], boot_a: np.ndarray,
              boot_b: np.ndarray) -> PairedResult:
    """The :class:`PairedResult` of per-seed errors ``a``, ``b`` (as
    :func:`paired_comparison`) and their resampled MAEs ``boot_a``, ``boot_b`` (B,)."""
    seed_a = tuple(float(np.mean(x)) for x in a)
    seed_b = tuple(float(np.mean(x)) for x in b)
    mae_a, mae_b = float(np.mean(seed_a)), float(np.mean(seed_b))
    diffs = boot_a - boot_b
    q = [(1 - LEVEL) / 2 * 100, (1 + LEVEL) / 2 * 100]
    lo, hi = np.percentile(diffs, q)
    r_lo, r_hi = (np.percentile(boot_a / boot_b, q) if np.all(boot_b > 0)
                  else (math.nan, math.nan))
    n_frames = int(sum(np.size(x) for x in a))
    return PairedResult(
        diff_mean=mae_a - mae_b, ci_low=float(lo), ci_high=float(hi),
        ratio=mae_a / mae_b if mae_b > 0 else math.nan, ratio_ci_low=float(r_lo),
        ratio_ci_high=float(r_hi), p_value=bootstrap_p(diffs, n_frames), mae_a=mae_a,
        mae_b=mae_b, seed_mae_a=seed_a, seed_mae_b=seed_b, n_seeds=len(a),
        n_frames=n_frames, zero_spread=bool(np.ptp(diffs) == 0))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order as given), capped at 1.

    p_(i) sorted ascending is multiplied by (m − i + 1), then made non-decreasing.
    """
    p = np.asarray(p_values, float)
    if p.size == 0:
        return p
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {p.tolist()}")
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, p[order] * (p.size - np.arange(p.size)))
    adjusted = np.empty_like(p)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


@dataclass(frozen=True)
class SeedTest:
    """A paired t-test over seeds of a quantity with one value per run."""

    diff_mean: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None  # None with fewer than two common seeds
    mean_a: float
    mean_b: float
    n_seeds: int


def paired_seed_test(xa: Mapping[int, float], xb: Mapping[int, float]) -> SeedTest | None:
    """A − B over the seeds both have ({seed: value}); None when they share no seed.

    Two or more common seeds: ``scipy.stats.ttest_rel`` and its 95% interval; the
    differences all equal (zero spread): p = 1 and the interval is the difference itself.
    """
    from scipy import stats

    seeds = sorted(set(xa) & set(xb))
    if not seeds:
        return None
    va = np.array([xa[s] for s in seeds], float)
    vb = np.array([xb[s] for s in seeds], float)
    d = va - vb
    base = dict(diff_mean=float(d.mean()), mean_a=float(va.mean()), mean_b=float(vb.mean()),
                n_seeds=len(seeds))
    if len(seeds) < 2:
        return SeedTest(ci_low=None, ci_high=None, p_value=None, **base)
    if np.ptp(d) == 0:
        return SeedTest(ci_low=float(d[0]), ci_high=float(d[0]), p_value=1.0, **base)
    res = stats.ttest_rel(va, vb)
    ci = res.confidence_interval(LEVEL)
    return SeedTest(ci_low=float(ci.low), ci_high=float(ci.high), p_value=float(res.pvalue),
                    **base)
