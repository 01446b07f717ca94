"""The roofline arithmetic of harness/bounds.py."""

from __future__ import annotations

import pytest
from harness.bounds import roofline


def test_a_memory_bound_step():
    r = roofline(flops=2e9, nbytes=1e9, peak_flops_per_s=1e11, bytes_per_s=1e10, measured_s=0.5)
    assert r["compute_s"] == pytest.approx(0.02)
    assert r["memory_s"] == pytest.approx(0.1)
    assert r["bound_s"] == pytest.approx(0.1)
    assert r["bound_by"] == "memory"
    assert r["measured_over_bound"] == pytest.approx(5.0)
    assert r["achieved_flops_per_s"] == pytest.approx(4e9)
    assert r["fraction_of_peak"] == pytest.approx(0.04)
    assert r["intensity"] == pytest.approx(2.0)
    assert r["ridge_intensity"] == pytest.approx(10.0)


def test_a_compute_bound_step():
    r = roofline(flops=1e10, nbytes=1e8, peak_flops_per_s=1e11, bytes_per_s=1e10, measured_s=0.2)
    assert r["bound_by"] == "compute"
    assert r["bound_s"] == pytest.approx(0.1)
    assert r["measured_over_bound"] == pytest.approx(2.0)
    assert r["fraction_of_peak"] == pytest.approx(0.5)


def test_no_work_has_no_ratio():
    r = roofline(flops=0, nbytes=0, peak_flops_per_s=1e11, bytes_per_s=1e10, measured_s=0.1)
    assert r["bound_s"] == 0 and r["measured_over_bound"] is None and r["intensity"] is None


@pytest.mark.parametrize("bad", [{"peak_flops_per_s": 0}, {"bytes_per_s": -1.0},
                                 {"measured_s": 0.0}, {"flops": -1.0}])
def test_impossible_inputs_are_refused(bad):
    args = {"flops": 1.0, "nbytes": 1.0, "peak_flops_per_s": 1.0, "bytes_per_s": 1.0,
            "measured_s": 1.0, **bad}
    with pytest.raises(ValueError, match=next(iter(bad))):
        roofline(**args)
