"""Writing results: atomic files, markdown tables, and number formatting."""

from __future__ import annotations

import json
import os
import socket
from datetime import date
from pathlib import Path
from typing import Any


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` via ``<path>.tmp`` renamed into place (never a torn file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def write_json(path: Path, payload: Any) -> Path:
    return write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


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
