"""The benchmark scripts and their ``harness`` package import each other by top-level
name (they run as ``python benchmarks/<script>.py``): put ``benchmarks/`` on the path."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
