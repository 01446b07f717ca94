"""Roofline arithmetic: how long a piece of work must take at the machine's peak rates.

A step of ``flops`` floating-point operations that moves ``nbytes`` bytes cannot take
less than ``flops / peak_flops_per_s`` (compute time) nor less than
``nbytes / bytes_per_s`` (memory time); the roofline bound is the larger of the two
(Williams, Waterman & Patterson, "Roofline", Commun. ACM 52(4), 2009). The measured time
divided by the bound says how far the step is from what the machine could do.
"""

from __future__ import annotations


def roofline(flops: float, nbytes: float, peak_flops_per_s: float, bytes_per_s: float,
             measured_s: float) -> dict[str, float | str | None]:
    """The roofline numbers of one step.

    Args:
        flops: floating-point operations of the step.
        nbytes: bytes read and written by the step.
        peak_flops_per_s: the machine's peak FLOP/s (dense matmul).
        bytes_per_s: the machine's memory bandwidth, bytes/s.
        measured_s: the measured time of the step, seconds.

    Returns:
        achieved_flops_per_s, fraction_of_peak (achieved ÷ peak), compute_s, memory_s,
        bound_s (their max), bound_by ("compute" or "memory"), measured_over_bound,
        intensity (flop/byte) and ridge_intensity (peak ÷ bandwidth: the intensity above
        which the step is compute-bound). A ratio whose denominator is 0 is None.
    """
    for name, value in (("flops", flops), ("nbytes", nbytes)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    for name, value in (("peak_flops_per_s", peak_flops_per_s), ("bytes_per_s", bytes_per_s),
                        ("measured_s", measured_s)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    compute_s, memory_s = flops / peak_flops_per_s, nbytes / bytes_per_s
    bound_s = max(compute_s, memory_s)
    return {
        "achieved_flops_per_s": flops / measured_s,
        "fraction_of_peak": flops / measured_s / peak_flops_per_s,
        "compute_s": compute_s, "memory_s": memory_s, "bound_s": bound_s,
        "bound_by": "compute" if compute_s >= memory_s else "memory",
        "measured_over_bound": measured_s / bound_s if bound_s > 0 else None,
        "intensity": flops / nbytes if nbytes > 0 else None,
        "ridge_intensity": peak_flops_per_s / bytes_per_s,
    }
