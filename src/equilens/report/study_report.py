"""A study and its report in one call: the thin layer above :mod:`equilens.study`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from equilens.report import aggregate
from equilens.study import StudyRun, StudySpec, run_study, study_lock


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


def study_and_report(spec: StudySpec, out: str | Path, *, command: str = "",
                     compare: str | Path | None = None, **run_options: Any) -> StudyResult:
    """Run (or resume) the study ``spec`` in ``out`` and write its report there.

    ``run_options`` go to :func:`equilens.study.run_study` (executor, workers, threads,
    ray_address, progress); ``compare``: another study folder whose verdicts the report
    checks against this one's (read before any run starts, so a wrong folder fails early).
    """
    from equilens.report.document import write_report
    from equilens.study.run import check_data

    out = Path(out)
    if compare:
        from equilens.report.compare import load_other

        load_other(compare)
    check_data(spec, out)  # bad data: one error, before the study folder is made
    with study_lock(out):
        done = run_study(spec, out, checked=True, **run_options)
        summary = write_report(out, spec, done.runs, errors=done.errors,
                               invocation=done.invocation, command=command,
                               executor_text=done.executor_text,
                               threads_text=done.threads_text, compare=compare)
        _record_wall_time(out, summary, done)
    records = aggregate.read_json(out / "results.json") or []
    return StudyResult(out, records, summary, done.invocation["runs_executed"],
                       done.invocation["runs_reused"], done.failed,
                       time.perf_counter() - done.t0)


def _record_wall_time(out: Path, summary: dict[str, Any], done: StudyRun) -> None:
    """The report states the time up to writing it; summary.json keeps the full time."""
    from equilens.io import write_json

    invocation = dict(done.invocation, wall_time_s=time.perf_counter() - done.t0)
    summary["invocations"][-1] = invocation
    summary["wall_time_s_total"] = sum(i.get("wall_time_s", 0.0) for i in summary["invocations"])
    write_json(out / "summary.json", aggregate.jsonable(summary))
