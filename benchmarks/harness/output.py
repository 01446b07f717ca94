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


def machine_section(info: dict[str, Any], load_at_end: list[float]) -> str:
    """The "## Machine" section of a report from :func:`harness.machine.describe`."""
    rows = [["CPU", info["cpu"]],
            ["logical CPUs (usable)", f"{info['logical_cpus']} ({info['usable_cpus']})"],
            ["physical cores", str(info["physical_cores"])],
            ["memory", f"{info['memory_gib']:.1f} GiB" if info["memory_gib"] else "—"],
            ["platform", info["platform"]]]
    if info.get("gpus"):
        rows.append(["GPUs", ", ".join(info["gpus"])])
    rows += [["load average (1, 5, 15 min) at start",
              ", ".join(f"{x:.2f}" for x in info["load_average_at_start"])],
             ["load average at end", ", ".join(f"{x:.2f}" for x in load_at_end)]]
    return "## Machine\n\n" + table(["", ""], rows)
