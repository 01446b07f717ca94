"""Report helpers: file names, markdown tables, and number formatting (files themselves
are written atomically by :mod:`equilens.io`)."""

from __future__ import annotations

import json
import socket
from datetime import date
from typing import Any


def stem(kind: str, quick: bool = False, suffix: str = "") -> str:
    """``<kind>-<date>-<hostname>`` (then ``-<suffix>``, and ``-quick`` for a smoke run)."""
    return (f"{kind}-{date.today().isoformat()}-{socket.gethostname()}"
            + (f"-{suffix}" if suffix else "") + ("-quick" if quick else ""))


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def number(value: float | None, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits; ``—`` when missing."""
    if value is None:
        return "—"
    return f"{value:.{digits}g}" if abs(value) < 10 ** digits else f"{value:.0f}"


def ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or not denominator:
        return "—"
    return f"{numerator / denominator:.2f}×"


def code_block(payload: Any, language: str = "json") -> str:
    return f"```{language}\n{json.dumps(payload, indent=2, default=str)}\n```"
