"""Symmetry-check results as a text table and as JSON-ready dicts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from equilens.symmetry.checks import CheckResult

_HEADER = ("check", "max abs error", "max rel error", "tolerance", "pass")


def _number(value: float) -> str:
    return f"{value:.2e}" if math.isfinite(value) else str(value)


def format_table(results: Sequence[CheckResult], title: str | None = None) -> str:
    """One block per dtype: check, max abs error, max rel error, tolerance, PASS/FAIL.

    ``title`` (e.g. the model spec) heads every block, followed by the dtype.
    """
    blocks = []
    for dtype in dict.fromkeys(r.dtype for r in results):
        rows = [(r.check, _number(r.max_abs_error), _number(r.max_rel_error),
                 _number(r.tolerance), "PASS" if r.passed else "FAIL")
                for r in results if r.dtype == dtype]
        widths = [max(len(row[i]) for row in [_HEADER, *rows]) for i in range(len(_HEADER))]
        lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                           for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
                 for row in [_HEADER, *rows]]
        failed = sum(not r.passed for r in results if r.dtype == dtype)
        head = f"{title} [{dtype}]" if title else f"[{dtype}]"
        summary = f"{len(rows) - failed} of {len(rows)} checks passed"
        blocks.append("\n".join([head, *lines, summary]))
    return "\n\n".join(blocks)


def _finite(value: float) -> float | None:
    """JSON has no inf/NaN: a non-finite error is written as null."""
    return value if math.isfinite(value) else None


def results_to_json(results: Sequence[CheckResult], **meta: Any) -> dict[str, Any]:
    """A JSON-ready dict: ``meta`` (e.g. model, molecule, seed), ``passed`` and ``checks``.

    ``checks`` lists every result's fields (check, max_abs_error, max_rel_error,
    tolerance, passed, dtype, magnitude, n_samples); non-finite errors become null.
    """
    checks = []
    for r in results:
        row = r.to_dict()
        for key in ("max_abs_error", "max_rel_error", "magnitude"):
            row[key] = _finite(row[key])
        checks.append(row)
    return {**meta, "passed": all(r.passed for r in results), "n_checks": len(results),
            "n_failed": sum(not r.passed for r in results), "checks": checks}
