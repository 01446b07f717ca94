"""Running the real command line, in this process or as the installed console script."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from equilens.cli.main import main

CONSOLE_SCRIPT = Path(sys.executable).parent / "equilens"
TINY_GCN = ("--model", "gcn:channels=8")
TINY_EGNN = ("--model", "egnn:channels=4,layers=2")
QUICK = ("--epochs", "1", "--batch-size", "8", "--device", "cpu", "--quiet")


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run(args: list[str], capsys) -> Outcome:
    """``equilens ARGS`` in this process (argparse's exit becomes the code)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return Outcome(int(code), captured.out, captured.err)


def run_script(args: list[str], timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """``equilens ARGS`` as a subprocess of the installed console script, one torch thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           **kwargs.pop("env", {})}
    return subprocess.run([str(CONSOLE_SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env, check=False, **kwargs)


def error_line(outcome: Outcome, *needles: str, command: str = "train", code: int = 2) -> str:
    """The single stderr line of a failed command, checked to hold every needle."""
    assert outcome.code == code, (outcome.code, outcome.err)
    lines = outcome.err.splitlines()
    assert len(lines) == 1 and outcome.err.endswith("\n"), outcome.err
    line = lines[0]
    assert line.startswith(f"equilens {command}: error: "), line
    assert "Traceback" not in outcome.err and "Traceback" not in outcome.out
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


def digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (or of ``root`` itself), hidden ones included."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root) if p != root else p.name):
            hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
