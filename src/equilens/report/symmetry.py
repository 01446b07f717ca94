"""The recorded symmetry checks of a run (``symmetry.json``), as the report reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from equilens.study import plan


def read_checks(run_dir: str | Path) -> dict[str, Any] | None:
    """The recorded checks of a run, or None."""
    path = Path(run_dir) / plan.SYMMETRY
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
