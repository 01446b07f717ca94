"""`run_study`: every run of a study, in a pool of local workers or on Ray.

Idempotent: a finished run (see :mod:`equilens.study.plan`) is read, not rerun; a
started one resumes from its last finished epoch and skips its finished steps. Only one
study process may work in a folder at a time (a lock file). Ctrl-C stops the workers;
rerunning the same command resumes.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from equilens.errors import EquilensError
from equilens.study import plan
from equilens.study.executors import make_executor
from equilens.study.spec import StudySpec
from equilens.study.symmetry_step import symmetry_available
from equilens.study.threads import available_cores, default_threads
from equilens.study.worker import make_task

LOCK = ".study.lock"
#: Shared by the runs of a study: what depends on the frames only (the geometry control).
CACHE = "cache"


@dataclass
class StudyRun:
    """What :func:`run_study` did: the planned runs and what became of them."""

    out: Path
    spec: StudySpec
    runs: list[plan.PlannedRun]
    errors: dict[str, str]  # run folder → one-line reason, for runs that failed now
    invocation: dict[str, Any]  # started, wall_time_s, runs_executed/reused/failed, executor
    executor_text: str
    threads_text: str
    t0: float  # time.perf_counter() at the start, for the total wall time

    @property
    def failed(self) -> list[str]:
        """"run_dir: error" of each run that failed in this invocation."""
        return [f"{d}: {e}" for d, e in sorted(self.errors.items())]


@contextmanager
def study_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.study.lock``; EquilensError if another study process holds it.

    The one file not written through :mod:`equilens.io`: a lock is taken on the file
    itself (``flock``), released by the kernel when the process ends however it ends.
    """
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise EquilensError(f"{out}: another equilens study is working in this folder "
                                f"(pid {handle.read().strip() or '?'}); wait for it or use "
                                "another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def _preflight(todo: list[plan.PlannedRun], spec: StudySpec) -> None:
    """Load the frames of each molecule once before starting workers: a missing data file
    is one clear error now (and a download happens once, not in every worker). A file
    system is split with every seed (and size): a seed whose test frames hold an element
    its training frames lack stops the study here, before anything is written."""
    from equilens.training import load_splits

    seen: set[tuple] = set()
    for run in todo:
        d = run.config.data
        key = (run.molecule,) if run.molecule not in spec.by_name else (
            run.molecule, run.seed, d.n_train, d.n_val, d.n_test)
        if key not in seen:
            seen.add(key)
            load_splits(run.config)


def check_data(spec: StudySpec, out: str | Path) -> None:
    """Read the data of every run still to do (see :func:`_preflight`) without writing
    anything: bad data stops a study before its folder is made."""
    runs = plan.plan_runs(spec, Path(out), symmetry=symmetry_available())
    todo = [r for r in runs if r.status != "done"]
    if todo:
        _preflight(todo, spec)


def run_study(spec: StudySpec, out: str | Path, *, executor: str = "local",
              workers: int | None = None, threads: int | None = None,
              ray_address: str | None = None, progress: bool = True,
              checked: bool = False) -> StudyRun:
    """Run (or resume) every run of ``spec`` into ``out``; return the runs and their results.

    Writes ``study.yaml`` and the run folders, never the report: the caller (see
    :func:`equilens.report.study_and_report`) reads the runs back and writes it. The
    caller holds :func:`study_lock` on ``out``. ``checked``: :func:`check_data` was
    called already (the data are not read again before the workers start).
    """
    from equilens.io import write_text

    t0 = time.perf_counter()
    started = datetime.now().isoformat(timespec="seconds")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    symmetry = symmetry_available()
    runs = plan.plan_runs(spec, out, symmetry=symmetry)
    todo = sorted((r for r in runs if r.status != "done"), key=lambda r: -r.cost)
    if todo and not checked:
        _preflight(todo, spec)
    write_text(out / "study.yaml", spec.to_yaml())
    cores = available_cores()
    workers = workers or max(1, min(cores, len(todo) or 1))
    threads = threads or default_threads(workers, cores)
    runner = make_executor(executor, workers, threads, ray_address)
    n_resume = sum(r.status == "resume" for r in todo)
    say = tqdm.write if progress else (lambda text: None)
    say(f"study {out}: {len(runs)} runs, {len(runs) - len(todo)} done, {n_resume} to "
        f"resume, {len(todo) - n_resume} new; {runner.describe()}")
    errors: dict[str, str] = {}
    executed = 0
    if todo:
        tasks = [make_task(r, threads=threads, method=spec.method,
                           perplexity=spec.perplexity, symmetry=symmetry,
                           cache_dir=out / CACHE) for r in todo]
        executed = _execute(runner, tasks, len(runs), errors, say, progress)
    invocation = {"started": started, "wall_time_s": time.perf_counter() - t0,
                  "runs_executed": executed, "runs_reused": len(runs) - len(todo),
                  "runs_failed": len(errors), "executor": runner.describe()}
    threads_text = (f"{threads} thread(s) per run" if executor == "local"
                    else f"{threads} CPU(s) per Ray task")
    return StudyRun(out, spec, runs, errors, invocation, runner.describe(), threads_text, t0)


def _execute(runner: Any, tasks: list[dict[str, Any]], n_runs: int, errors: dict[str, str],
             say: Any, progress: bool) -> int:
    """Run ``tasks`` on ``runner``, one progress line per finished run; failed runs go
    into ``errors`` (run folder → one-line reason). Returns the number executed."""
    executed = 0
    bar = tqdm(total=n_runs, initial=n_runs - len(tasks), unit="run", desc="study",
               disable=not progress, dynamic_ncols=True)
    try:
        for task, result in runner.run(tasks):
            executed += 1
            bar.update(1)
            if result["ok"]:
                say(_line(task, result, bar.n, n_runs))
            else:
                errors[task["run_dir"]] = result["error"]
                say(f"[{bar.n}/{n_runs}] {task['label']}: FAILED: {result['error']}")
    finally:
        bar.close()
    return executed


def _line(task: dict[str, Any], result: dict[str, Any], k: int, n: int) -> str:
    from equilens.training import rundir

    run_dir = Path(task["run_dir"])
    parts = [f"[{k}/{n}] {task['label']}:"]
    val = _energy_mae(run_dir / plan.VAL_METRICS)
    test = _energy_mae(run_dir / rundir.TEST_METRICS)
    if val is not None:
        parts.append(f"val MAE {val:.4f}")
    if test is not None:
        parts.append(f"test MAE {test:.4f} kcal/mol;")
    steps = result.get("steps") or []
    if result.get("trained_epochs"):
        parts.append(f"{result['trained_epochs']} epoch(s) trained;")
    parts.append(f"{_steps_text(steps, result.get('step_s') or {})} in "
                 f"{result['time_s']:.0f} s")
    return " ".join(parts)


def _steps_text(steps: list[str], seconds: dict[str, float]) -> str:
    """``train 80 s, evaluate 2.1 s, ...``: the steps done and the wall seconds of each."""
    if not steps:
        return "nothing to do"
    parts = []
    for step in steps:
        spent = seconds.get("train" if step == "resume" else step)  # resuming is training
        parts.append(step if spent is None else f"{step} {_seconds(spent)}")
    return ", ".join(parts)


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _energy_mae(path: Path) -> float | None:
    """The model's energy MAE in a metrics file, or None when it is missing or torn."""
    try:
        return json.loads(path.read_text()).get("model", {}).get("energy_mae_kcal")
    except (OSError, ValueError, AttributeError):
        return None
