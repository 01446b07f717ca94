"""The numerical equivariance checks of a study run, when :mod:`equilens.symmetry` provides them.

``equilens.symmetry.check_run(run_dir)`` returns results with fields ``check``,
``max_abs_error``, ``max_rel_error``, ``tolerance`` and ``passed``. The study records
them per run in ``symmetry.json``; when the module (or ``check_run``) is missing, the
report simply has no equivariance section.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from equilens.study import plan

FIELDS = ("check", "max_abs_error", "max_rel_error", "tolerance", "passed", "dtype")


def symmetry_available() -> bool:
    """True when ``equilens.symmetry.check_run`` can be imported."""
    try:
        from equilens import symmetry
    except Exception:  # noqa: BLE001 - any import failure means: not available
        return False
    return callable(getattr(symmetry, "check_run", None))


def run_checks(run_dir: str | Path, *, experiment: Any = None, model: Any = None
               ) -> dict[str, Any]:
    """Run the checks on a trained run; write and return ``symmetry.json``.

    ``experiment`` and ``model``: the run's data and best model when the caller holds
    them (see ``equilens.symmetry.check_run``); read from the run folder when None.
    A failure of the checks themselves is recorded (``error``) rather than raised, so a
    broken check never blocks the study or reruns forever.
    """
    from equilens.io import write_json

    run_dir = Path(run_dir)
    try:
        from equilens import symmetry

        shared = {k: v for k, v in (("experiment", experiment), ("model", model)) if v is not None}
        results = symmetry.check_run(run_dir, **shared)
        rows = [_row(r) for r in results]
        out: dict[str, Any] = {"results": rows, "passed": all(r["passed"] for r in rows),
                               "error": None}
    except Exception as err:  # noqa: BLE001 - recorded in symmetry.json
        out = {"results": [], "passed": None, "error": f"{type(err).__name__}: {err}"}
    write_json(run_dir / plan.SYMMETRY, out)
    return out


def _row(result: Any) -> dict[str, Any]:
    get = result.get if isinstance(result, dict) else (lambda k: getattr(result, k, None))
    row = {k: get(k) for k in FIELDS}
    for k in ("max_abs_error", "max_rel_error", "tolerance"):
        row[k] = None if row[k] is None else float(row[k])
        if row[k] is not None and not math.isfinite(row[k]):
            row[k] = None if math.isnan(row[k]) else row[k]
    row["passed"] = bool(row["passed"])
    row["check"] = str(row["check"])
    row["dtype"] = None if row["dtype"] is None else str(row["dtype"])
    return row
