"""The statistics under the verdicts: bootstrap, p-values, Holm, paired seed tests."""

from __future__ import annotations

import numpy as np
import pytest

from equilens.report.aggregate import stats
from equilens.report.conclusion import compare
from equilens.report.paired import (PairingError, align, bootstrap_p, hierarchical_bootstrap,
                                    holm, paired_comparison, paired_seed_test)


def test_holm_matches_the_step_down_by_hand():
    # sorted 0.01, 0.03, 0.04 -> x3, x2, x1 = 0.03, 0.06, 0.04 -> monotone 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]).size == 0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.1, 1.5])


def test_one_seed_interval_matches_normal_theory():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 400) ** 2
    b = a - rng.normal(0.3, 1.0, 400)
    res = paired_comparison([a], [b], n_resamples=4000, seed=3)
    d = a - b
    half = 1.96 * d.std(ddof=1) / np.sqrt(d.size)
    assert res.diff_mean == pytest.approx(d.mean())
    assert res.ci_low == pytest.approx(d.mean() - half, abs=0.2 * half)
    assert res.ci_high == pytest.approx(d.mean() + half, abs=0.2 * half)
    again = paired_comparison([a], [b], n_resamples=4000, seed=3)
    assert (again.ci_low, again.p_value) == (res.ci_low, res.p_value)


def test_seed_stage_carries_the_spread_between_seeds():
    """Seeds that disagree widen the interval beyond what their frames alone give."""
    rng = np.random.default_rng(2)
    b = [rng.random(300) for _ in range(4)]
    a = [x + shift for x, shift in zip(b, (-0.5, 0.4, -0.3, 0.5))]
    res = paired_comparison(a, b, n_resamples=3000)
    assert res.ci_low < 0 < res.ci_high and res.p_value > 0.3
    mae_a, mae_b = hierarchical_bootstrap(a, b, n_resamples=3000)
    assert mae_a.shape == mae_b.shape == (3000,)


def test_p_is_never_zero_and_never_below_the_design():
    assert bootstrap_p(np.full(1000, 0.4), n_pairs=500) == 1.0  # zero spread
    assert bootstrap_p(np.zeros(1000), n_pairs=500) == 1.0
    one_frame = paired_comparison([np.array([0.1])], [np.array([0.9])], n_resamples=500)
    assert one_frame.p_value == 1.0 and one_frame.zero_spread
    clear = bootstrap_p(np.random.default_rng(0).normal(3.0, 0.5, 2000), n_pairs=500)
    assert 0 < clear < 2 / 2001
    assert bootstrap_p(np.random.default_rng(0).normal(3.0, 0.5, 2000), n_pairs=4) == 2 ** -3
    mixed = bootstrap_p(np.random.default_rng(0).normal(0.1, 1.0, 2000), n_pairs=500)
    assert 0.5 < mixed < 1


def test_align_pairs_by_frame_ids():
    ea, eb = align(np.array([3, 1, 2]), np.array([30.0, 10.0, 20.0]),
                   np.array([2, 3, 9]), np.array([2.0, 3.0, 9.0]))
    assert ea.tolist() == [20.0, 30.0] and eb.tolist() == [2.0, 3.0]
    with pytest.raises(PairingError, match="share no test frame"):
        align(np.array([1]), np.array([1.0]), np.array([2]), np.array([1.0]))


def test_paired_seed_test():
    t = paired_seed_test({0: 1.0, 1: 2.0, 2: 3.0}, {0: 1.5, 1: 2.6, 2: 3.4})
    assert t.n_seeds == 3 and t.diff_mean == pytest.approx(-0.5)
    assert t.ci_low < -0.5 < t.ci_high and t.p_value < 0.05
    flat = paired_seed_test({0: 1.0, 1: 2.0}, {0: 1.5, 1: 2.5})  # zero spread
    assert flat.p_value == 1.0 and flat.ci_low == flat.ci_high == pytest.approx(-0.5)
    single = paired_seed_test({0: 1.0, 5: 2.0}, {0: 1.5})
    assert single.p_value is None and single.n_seeds == 1
    assert paired_seed_test({0: 1.0}, {1: 2.0}) is None


def test_welch_zero_spread_gives_no_verdict():
    """Changed: zero spread on both sides used to give p = 0 and "better"."""
    c = compare("egnn", "gcn", stats([1.0, 1.0]), stats([2.0, 2.0]))
    assert c.p_value is None and c.verdict == "unknown"
