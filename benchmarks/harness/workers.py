"""Running one measurement: a worker process in its code's environment, JSON in and out.

One process per measurement, so that its peak memory is its own. The job description
and the result are files in a scratch folder, next to the worker's log.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

WORKERS_DIR = Path(__file__).resolve().parents[1] / "workers"
SCRIPTS = {"equilens": "equilens_worker.py", "nequip": "nequip_worker.py", "mace": "mace_worker.py"}


def run_worker(name: str, code: str, python: Path | str, job: dict[str, Any], scratch: Path,
               timeout_s: float | None = None) -> dict[str, Any]:
    """Run ``job`` in a fresh ``python`` process; its result, or ``{"error": ...}``.

    The worker gets ``job["threads"]`` OpenMP/MKL threads; its output goes to
    ``scratch/<name>.log``.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    job_path, out, log = (scratch / f"{name}.{kind}" for kind in ("job.json", "result.json", "log"))
    job_path.write_text(json.dumps(job, indent=2))
    out.unlink(missing_ok=True)
    threads = str(job["threads"])
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    cmd = [str(python), str(WORKERS_DIR / SCRIPTS[code]), "--job", str(job_path), "--out", str(out)]
    start = time.perf_counter()
    try:
        with open(log, "w") as handle:
            done = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                  timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s", "log": str(log)}
    wall = time.perf_counter() - start
    if done.returncode != 0 or not out.exists():
        return {"error": f"exit code {done.returncode}: {_tail(log)}", "log": str(log), "wall_s": wall}
    return {**json.loads(out.read_text()), "log": str(log), "wall_s": wall}


def _tail(log: Path, lines: int = 3) -> str:
    text = log.read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:]) if text else "no output"
