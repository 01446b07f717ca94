"""`run_study`: every run of a study, then the report.

Idempotent: a finished run (see :mod:`equilens.report.plan`) is read, not rerun; a
started one resumes from its last finished epoch and skips its finished steps. Only one
study process may work in a folder at a time (a lock file). Ctrl-C stops the workers;
rerunning the same command resumes.
"""

from __future__ import annotations

import fcntl
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
from equilens.report import plan
from equilens.report.checks import symmetry_available
from equilens.report.executors import make_executor
from equilens.report.runner import make_task
from equilens.report.spec import StudySpec
from equilens.report.threads import available_cores, default_threads

LOCK = ".study.lock"


@dataclass
class StudyResult:
    out: Path
    records: list[dict[str, Any]]
    summary: dict[str, Any]
    executed: int
    reused: int
    failed: list[str]  # "run_dir: error" of each run that failed in this invocation
    wall_time_s: float

    @property
    def report(self) -> Path:
        return self.out / "report.html"


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


def _preflight(todo: list[plan.PlannedRun]) -> None:
    """Load the frames of each molecule once before starting workers: a missing data file
    is one clear error now (and a download happens once, not in every worker)."""
    from equilens.training import load_splits

    seen: set[str] = set()
    for run in todo:
        if run.molecule not in seen:
            seen.add(run.molecule)
            load_splits(run.config)


def run_study(spec: StudySpec, out: str | Path, *, executor: str = "local",
              workers: int | None = None, threads: int | None = None,
              ray_address: str | None = None, progress: bool = True,
              command: str = "", compare: str | Path | None = None) -> StudyResult:
    """Run (or resume) every run of ``spec`` into ``out`` and write the report.

    ``compare``: another study folder whose verdicts the report checks against this one's.
    """
    from equilens.io import write_json, write_text
    from equilens.report import aggregate
    from equilens.report.document import write_report

    t0 = time.perf_counter()
    started = datetime.now().isoformat(timespec="seconds")
    out = Path(out)
    if compare:
        from equilens.report.compare import load_other

        load_other(compare)  # a wrong folder is an error now, not after the runs
    with study_lock(out):
        symmetry = symmetry_available()
        runs = plan.plan_runs(spec, out, symmetry=symmetry)
        write_text(out / "study.yaml", spec.to_yaml())
        todo = sorted((r for r in runs if r.status != "done"), key=lambda r: -r.cost)
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
            _preflight(todo)
            tasks = [make_task(r, threads=threads, method=spec.method,
                               perplexity=spec.perplexity, symmetry=symmetry) for r in todo]
            bar = tqdm(total=len(runs), initial=len(runs) - len(todo), unit="run",
                       desc="study", disable=not progress, dynamic_ncols=True)
            try:
                for task, result in runner.run(tasks):
                    executed += 1
                    bar.update(1)
                    if result["ok"]:
                        say(_line(task, result, bar.n, len(runs)))
                    else:
                        errors[task["run_dir"]] = result["error"]
                        say(f"[{bar.n}/{len(runs)}] {task['label']}: FAILED: {result['error']}")
            finally:
                bar.close()
        wall = time.perf_counter() - t0
        invocation = {"started": started, "wall_time_s": wall, "runs_executed": executed,
                      "runs_reused": len(runs) - len(todo), "runs_failed": len(errors),
                      "executor": runner.describe()}
        threads_text = (f"{threads} thread(s) per run" if executor == "local"
                        else f"{threads} CPU(s) per Ray task")
        summary = write_report(out, spec, runs, errors=errors, invocation=invocation,
                               command=command, executor_text=runner.describe(),
                               threads_text=threads_text, compare=compare)
        # the report states the time up to writing it; the record keeps the full time
        invocation["wall_time_s"] = time.perf_counter() - t0
        summary["invocations"][-1] = invocation
        summary["wall_time_s_total"] = sum(i.get("wall_time_s", 0.0)
                                           for i in summary["invocations"])
        write_json(out / "summary.json", aggregate.jsonable(summary))
    records = aggregate.read_json(out / "results.json") or []
    return StudyResult(out, records, summary, executed, len(runs) - len(todo),
                       [f"{d}: {e}" for d, e in sorted(errors.items())], time.perf_counter() - t0)


def _line(task: dict[str, Any], result: dict[str, Any], k: int, n: int) -> str:
    from equilens.report.aggregate import read_json
    from equilens.training import rundir

    run_dir = Path(task["run_dir"])
    test = read_json(run_dir / rundir.TEST_METRICS) or {}
    val = read_json(run_dir / plan.VAL_METRICS) or {}
    def mae(metrics: dict) -> float | None:
        return metrics.get("model", {}).get("energy_mae_kcal")
    parts = [f"[{k}/{n}] {task['label']}:"]
    if mae(val) is not None:
        parts.append(f"val MAE {mae(val):.4f}")
    if mae(test) is not None:
        parts.append(f"test MAE {mae(test):.4f} kcal/mol;")
    steps = result.get("steps") or []
    if result.get("trained_epochs"):
        parts.append(f"{result['trained_epochs']} epoch(s) trained;")
    parts.append(f"{', '.join(steps) or 'nothing to do'} in {result['time_s']:.0f} s")
    return " ".join(parts)
